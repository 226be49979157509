# Cross-check against the SentencePiece C++ library (Debian libsentencepiece-dev)
# and a comparison benchmark. Enabled only when a C++ compiler, the library
# and its header are found; the configure output says which is missing.
find_path(SC_SPM_INCLUDE_DIR sentencepiece_processor.h)
find_library(SC_SPM_LIBRARY sentencepiece)
include(CheckLanguage)
check_language(CXX)
if(SC_SPM_INCLUDE_DIR AND SC_SPM_LIBRARY AND CMAKE_CXX_COMPILER)
  enable_language(CXX)
  set(CMAKE_CXX_STANDARD 17)
  message(NOTICE "switchc: SentencePiece cross-check: on (${SC_SPM_LIBRARY})")
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
elseif(NOT CMAKE_CXX_COMPILER)
  message(NOTICE "switchc: SentencePiece cross-check: off (install a C++ compiler, e.g. g++)")
elseif(CMAKE_CROSSCOMPILING)
  message(NOTICE "switchc: SentencePiece cross-check: off (not in the target's sysroot: libsentencepiece-dev for "
                 "${CMAKE_SYSTEM_PROCESSOR})")
else()
  message(NOTICE "switchc: SentencePiece cross-check: off (install libsentencepiece-dev)")
endif()
