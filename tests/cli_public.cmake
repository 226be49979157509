# The CLI is a client of the public header; the utility library sits below
# the engine. Included by CMakeLists.txt, this registers the ctest test
# "cli_public_header"; run by that test (cmake -P), it reads every source
# and header in src/cli and src/util and fails on
#  - an include of an engine header (core/, io/, model/, kernels/,
#    generation/, tokenizer/, train/);
#  - an include that climbs out of its folder ("../").
# The include path of the CLI and the utility library already refuses
# engine headers at compile time, and the CLI's second link against the
# shared library (switchc_public_link) refuses calls outside switchc.h;
# this catches what the compiler would accept: a relative path to an engine
# header.
if(NOT CMAKE_SCRIPT_MODE_FILE)
  add_test(NAME cli_public_header COMMAND ${CMAKE_COMMAND}
           -DSC_SOURCE_DIR=${CMAKE_CURRENT_SOURCE_DIR} -P ${CMAKE_CURRENT_LIST_FILE})
  return()
endif()

cmake_minimum_required(VERSION 3.18)

set(engine_re "^[ \t]*#[ \t]*include[ \t]*[\"<](core|io|model|kernels|generation|tokenizer|train)/")
set(climb_re "^[ \t]*#[ \t]*include[ \t]*[\"<][^\">]*\\.\\./")
set(failures 0)
set(n_files 0)
foreach(part cli util)
  file(GLOB files ${SC_SOURCE_DIR}/src/${part}/*.c ${SC_SOURCE_DIR}/src/${part}/*.h)
  foreach(f ${files})
    math(EXPR n_files "${n_files} + 1")
    get_filename_component(name ${f} NAME)
    file(STRINGS ${f} lines)
    foreach(line IN LISTS lines)
      if(line MATCHES "${climb_re}")
        message(SEND_ERROR "FAIL: src/${part}/${name}: include outside its folder: ${line}")
        math(EXPR failures "${failures} + 1")
      elseif(line MATCHES "${engine_re}")
        message(SEND_ERROR "FAIL: src/${part}/${name} includes an engine header (${line}): "
                           "use include/switchc.h and src/util, or grow the public header")
        math(EXPR failures "${failures} + 1")
      endif()
    endforeach()
  endforeach()
endforeach()
if(n_files LESS 10)
  message(FATAL_ERROR "FAIL: only ${n_files} files found under ${SC_SOURCE_DIR}/src/{cli,util}")
endif()
if(failures GREATER 0)
  message(FATAL_ERROR "${failures} failure(s)")
endif()
message(STATUS "ok: ${n_files} files in src/cli and src/util include no engine header")
