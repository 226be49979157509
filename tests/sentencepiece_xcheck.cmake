# Cross-check against the SentencePiece C++ library (Debian libsentencepiece-dev)
# and a comparison benchmark. Needs a C++ compiler; enabled only when the
# library and its header are found.
find_path(SC_SPM_INCLUDE_DIR sentencepiece_processor.h)
find_library(SC_SPM_LIBRARY sentencepiece)
if(SC_SPM_INCLUDE_DIR AND SC_SPM_LIBRARY)
  enable_language(CXX)
  set(CMAKE_CXX_STANDARD 17)
  message(STATUS "switchc: SentencePiece found (${SC_SPM_LIBRARY}); registering sentencepiece_xcheck")
  add_executable(xcheck_sentencepiece ${CMAKE_CURRENT_SOURCE_DIR}/tests/xcheck_sentencepiece.cc)
  target_include_directories(xcheck_sentencepiece PRIVATE ${SC_SPM_INCLUDE_DIR})
  target_link_libraries(xcheck_sentencepiece PRIVATE switchc_static ${SC_SPM_LIBRARY})
  add_test(NAME sentencepiece_xcheck COMMAND xcheck_sentencepiece
           ${CMAKE_CURRENT_SOURCE_DIR}/tests/fixtures/tokenizer/spiece.model
           ${CMAKE_CURRENT_SOURCE_DIR}/tests/fixtures/tokenizer_corpus/corpus.txt
           ${CMAKE_CURRENT_SOURCE_DIR}/tests/fixtures/tokenizer_corpus/edge.txt)
  add_executable(xcheck_bench_sentencepiece ${CMAKE_CURRENT_SOURCE_DIR}/tests/xcheck_bench_sentencepiece.cc)
  target_include_directories(xcheck_bench_sentencepiece PRIVATE ${SC_SPM_INCLUDE_DIR})
  target_link_libraries(xcheck_bench_sentencepiece PRIVATE ${SC_SPM_LIBRARY})
else()
  message(STATUS "switchc: SentencePiece library/header not found: the sentencepiece_xcheck test "
                 "is skipped (install libsentencepiece-dev to enable it)")
endif()
