# The installed library as its users see it. Included by CMakeLists.txt, it
# registers the ctest test "install"; run by that test (cmake -P), it
#  - installs this build tree into a scratch prefix (cmake --install --prefix)
#    and checks the layout: CLI, both libraries, SONAME links, header, man
#    page, pkg-config file, CMake package;
#  - checks that the shared library exports exactly the public API: every
#    function declared in switchc.h (each marked SC_API), and only sc_ names;
#  - builds examples/generate.c against the prefix twice, with pkg-config
#    and with find_package(switchc), runs both on the tiny model and compares
#    their text with `switchc generate` for the same prompt;
#  - imports the installed Python package (PYTHONPATH = the prefix's
#    dist-packages, no SWITCHC_LIBRARY), checks that it loads the library
#    installed beside it, and compares its answer with the CLI's too.
# Not registered for a cross build: the example could not run on this host.
# Sanitizer builds (SWITCHC_SANITIZE) are tested too: the example is compiled
# and linked with the same sanitizers, which an instrumented library needs.
if(NOT CMAKE_SCRIPT_MODE_FILE)
  if(CMAKE_CROSSCOMPILING)
    message(STATUS "switchc: install test not registered: cross build "
                   "(the installed example cannot run here)")
    return()
  endif()
  set(sc_san_flags "")
  if(SWITCHC_SANITIZE)
    set(sc_san_flags "-fsanitize=address,undefined -fno-omit-frame-pointer")
  endif()
  add_test(NAME install COMMAND ${CMAKE_COMMAND}
           -DSC_BUILD_DIR=${CMAKE_CURRENT_BINARY_DIR} -DSC_SOURCE_DIR=${CMAKE_CURRENT_SOURCE_DIR}
           -DSC_GENERATOR=${CMAKE_GENERATOR} -DSC_CC=${CMAKE_C_COMPILER} -DSC_NM=${CMAKE_NM}
           -DSC_OBJDUMP=${CMAKE_OBJDUMP} -DSC_LIBDIR=${CMAKE_INSTALL_LIBDIR}
           -DSC_MANDIR=${CMAKE_INSTALL_MANDIR} -DSC_VERSION=${PROJECT_VERSION}
           -DSC_SOVERSION=${SWITCHC_SOVERSION} "-DSC_SAN_FLAGS=${sc_san_flags}"
           -DSC_CLI=$<TARGET_FILE:switchc> "-DSC_PYTHON=${SC_PYTHON}"
           "-DSC_PYTHON_DIR=${SWITCHC_PYTHON_DIR}" "-DSC_PYTHON_ENV=${SC_PYTHON_ENV}"
           -P ${CMAKE_CURRENT_LIST_FILE})
  # It installs what the build made: run it after a full build (make test).
  set_tests_properties(install PROPERTIES TIMEOUT 600)
  return()
endif()

cmake_minimum_required(VERSION 3.18) # script mode: today's policies (IN_LIST, while(TRUE))

# check(CONDITION MESSAGE): CONDITION is if() syntax, evaluated here; a
# failure is counted and reported, and the test goes on to show the rest.
set(failures 0)
function(check cond msg)
  cmake_language(EVAL CODE "if(${cond})\nset(ok TRUE)\nelse()\nset(ok FALSE)\nendif()")
  if(ok)
    message(STATUS "ok: ${msg}")
  else()
    message(SEND_ERROR "FAIL: ${msg}")
    math(EXPR n "${failures} + 1")
    set(failures ${n} PARENT_SCOPE)
  endif()
endfunction()

# Runs a command; stops the test when it fails, showing its output.
function(run_or_die what out_var)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "FAIL: ${what} (exit ${rc})\ncommand: ${ARGN}\nstdout:\n${out}\nstderr:\n${err}")
  endif()
  message(STATUS "ok: ${what}")
  set(${out_var} "${out}" PARENT_SCOPE)
endfunction()

set(work "${SC_BUILD_DIR}/test-tmp/install")
set(prefix "${work}/prefix")
file(REMOVE_RECURSE "${work}")
file(MAKE_DIRECTORY "${work}")
set(libdir "${prefix}/${SC_LIBDIR}")

# ------------------------------------------------------------------ layout
run_or_die("cmake --install into ${prefix}" _
           "${CMAKE_COMMAND}" --install "${SC_BUILD_DIR}" --prefix "${prefix}")
string(REPLACE "." ";" sc_v "${SC_VERSION}")
set(so_real "libswitchc.so.${SC_VERSION}")
set(so_name "libswitchc.so.${SC_SOVERSION}")
foreach(f bin/switchc include/switchc.h "${SC_MANDIR}/man1/switchc.1" "${SC_LIBDIR}/libswitchc.a"
        "${SC_LIBDIR}/${so_real}" "${SC_LIBDIR}/pkgconfig/switchc.pc"
        "${SC_LIBDIR}/cmake/switchc/switchc-config.cmake"
        "${SC_LIBDIR}/cmake/switchc/switchc-config-version.cmake")
  check("EXISTS \"${prefix}/${f}\"" "installed ${f}")
endforeach()
foreach(pair "libswitchc.so=${so_name}" "${so_name}=${so_real}")
  string(REPLACE "=" ";" pair "${pair}")
  list(GET pair 0 link)
  list(GET pair 1 target)
  set(got "")
  if(IS_SYMLINK "${libdir}/${link}")
    file(READ_SYMLINK "${libdir}/${link}" got)
  endif()
  check("\"${got}\" STREQUAL \"${target}\"" "${link} -> ${target} (found '${got}')")
endforeach()
run_or_die("objdump -p libswitchc.so" dyn "${SC_OBJDUMP}" -p "${libdir}/${so_real}")
check("dyn MATCHES \"SONAME +${so_name}\n\"" "SONAME is ${so_name}")
file(READ "${prefix}/${SC_LIBDIR}/pkgconfig/switchc.pc" pc)
check("pc MATCHES \"prefix=${prefix}\n\"" "switchc.pc names the install prefix")

# ----------------------------------------------------------------- symbols
# Public functions: each declaration statement in switchc.h (comments and
# preprocessor lines removed) that declares sc_name( must start with SC_API.
file(READ "${prefix}/include/switchc.h" hdr)
set(clean "")
while(TRUE)
  string(FIND "${hdr}" "/*" open)
  if(open EQUAL -1)
    string(APPEND clean "${hdr}")
    break()
  endif()
  string(SUBSTRING "${hdr}" 0 ${open} head)
  string(APPEND clean "${head}")
  string(SUBSTRING "${hdr}" ${open} -1 hdr)
  string(FIND "${hdr}" "*/" close)
  if(close EQUAL -1)
    message(FATAL_ERROR "FAIL: switchc.h: unterminated comment")
  endif()
  math(EXPR close "${close} + 2")
  string(SUBSTRING "${hdr}" ${close} -1 hdr)
endwhile()
string(REGEX REPLACE "\n[ \t]*#[^\n]*" "\n" clean "\n${clean}")
string(REPLACE ";" "|" clean "${clean}") # CMake lists split on ';': statements end at '|' now
string(REGEX MATCHALL "[^|]+" statements "${clean}")
set(declared "")
set(unmarked "")
foreach(s IN LISTS statements)
  if(s MATCHES "typedef") # function pointer types name no function
    continue()
  endif()
  if(" ${s}" MATCHES "[^A-Za-z0-9_](sc_[A-Za-z0-9_]+)[ \t\n]*\\(")
    set(name "${CMAKE_MATCH_1}")
    list(APPEND declared "${name}")
    string(REGEX REPLACE "^.*[{}]" "" s "${s}")      # what follows a brace or extern "C" {
    if(NOT s MATCHES "^[ \t\n]*SC_API[ \t\n]")
      list(APPEND unmarked "${name}")
    endif()
  endif()
endforeach()
list(LENGTH declared n_declared)
check("n_declared GREATER 40" "switchc.h declares ${n_declared} functions")
check("\"${unmarked}\" STREQUAL \"\"" "every function in switchc.h is marked SC_API (unmarked: ${unmarked})")

run_or_die("nm -D --defined-only" nm_out "${SC_NM}" -D --defined-only "${libdir}/${so_real}")
string(REGEX MATCHALL "[^\n]+" nm_lines "${nm_out}")
set(exported "")
set(foreign "")
foreach(l IN LISTS nm_lines)
  # "<address> <type> <name>[@version]"; absolute (A) symbols are linker marks
  if(l MATCHES "^[0-9a-fA-F]* +([A-Za-z]) +([^ @]+)")
    if(CMAKE_MATCH_1 STREQUAL "A")
      continue()
    endif()
    list(APPEND exported "${CMAKE_MATCH_2}")
    if(NOT CMAKE_MATCH_2 MATCHES "^sc_")
      list(APPEND foreign "${CMAKE_MATCH_2}")
    endif()
  endif()
endforeach()
list(LENGTH exported n_exported)
set(missing "")
foreach(name IN LISTS declared)
  if(NOT name IN_LIST exported)
    list(APPEND missing "${name}")
  endif()
endforeach()
set(extra "")
foreach(name IN LISTS exported)
  if(NOT name IN_LIST declared)
    list(APPEND extra "${name}")
  endif()
endforeach()
check("\"${foreign}\" STREQUAL \"\""
      "libswitchc.so exports ${n_exported} symbols, all sc_ (others: ${foreign})")
check("\"${missing}\" STREQUAL \"\"" "every function in switchc.h is exported (missing: ${missing})")
check("\"${extra}\" STREQUAL \"\"" "nothing but switchc.h's functions is exported (extra: ${extra})")

# ---------------------------------------------------------------- examples
set(model "${SC_SOURCE_DIR}/models/switch-tiny-t5vocab")
set(prompt "A <extra_id_0> walks into a bar and orders a <extra_id_1>.")
run_or_die("switchc generate (the reference)" want
           "${SC_CLI}" generate -m "${model}" --max-new-tokens 8 "${prompt}")
string(STRIP "${want}" want)
check("NOT want STREQUAL \"\"" "the CLI printed a text: '${want}'")
separate_arguments(san UNIX_COMMAND "${SC_SAN_FLAGS}")

find_program(SC_PKG_CONFIG pkg-config)
if(NOT SC_PKG_CONFIG)
  message(FATAL_ERROR "FAIL: pkg-config not found: install it (Debian: apt-get install pkg-config); "
                      "this test checks the installed switchc.pc with it")
endif()
set(ENV{PKG_CONFIG_PATH} "${libdir}/pkgconfig")
run_or_die("pkg-config --modversion switchc" pc_version "${SC_PKG_CONFIG}" --modversion switchc)
string(STRIP "${pc_version}" pc_version)
check("pc_version STREQUAL SC_VERSION" "pkg-config says version ${pc_version}")
run_or_die("pkg-config --cflags --libs switchc" pc_flags "${SC_PKG_CONFIG}" --cflags --libs switchc)
separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
run_or_die("cc generate.c \$(pkg-config --cflags --libs switchc)" _ "${SC_CC}" -std=c11 -Wall -Wextra -Werror
           ${san} "${SC_SOURCE_DIR}/examples/generate.c" ${pc_flags} -o "${work}/generate-pkgconfig")

run_or_die("configure examples/ with find_package(switchc)" _ "${CMAKE_COMMAND}" -G "${SC_GENERATOR}"
           -S "${SC_SOURCE_DIR}/examples" -B "${work}/examples-build" "-DCMAKE_PREFIX_PATH=${prefix}"
           "-DCMAKE_C_COMPILER=${SC_CC}" -DCMAKE_BUILD_TYPE=Release "-DCMAKE_C_FLAGS=${SC_SAN_FLAGS}"
           "-DCMAKE_EXE_LINKER_FLAGS=${SC_SAN_FLAGS}")
run_or_die("build examples/ with CMake" _ "${CMAKE_COMMAND}" --build "${work}/examples-build")

foreach(exe "${work}/generate-pkgconfig" "${work}/examples-build/generate")
  get_filename_component(shown "${exe}" NAME)
  run_or_die("objdump -p ${shown}" dyn "${SC_OBJDUMP}" -p "${exe}")
  check("dyn MATCHES \"NEEDED +${so_name}\n\"" "${shown} needs ${so_name}")
  # Only the installed library can be found: the build tree's is not on the path.
  run_or_die("run ${shown}" got
             "${CMAKE_COMMAND}" -E env "LD_LIBRARY_PATH=${libdir}" "${exe}" "${model}" "${prompt}")
  string(STRIP "${got}" got)
  check("got STREQUAL want" "${shown} printed '${got}', the CLI '${want}'")
endforeach()

# ------------------------------------------------------------------ python
if(SC_PYTHON)
  if(IS_ABSOLUTE "${SC_PYTHON_DIR}")
    set(pydir "${SC_PYTHON_DIR}")
  else()
    set(pydir "${prefix}/${SC_PYTHON_DIR}")
  endif()
  check("EXISTS \"${pydir}/switchc/__init__.py\"" "installed the Python package in ${pydir}")
  set(recorded "")
  if(EXISTS "${pydir}/switchc/_install_path.py")
    file(READ "${pydir}/switchc/_install_path.py" recorded)
  endif()
  string(FIND "${recorded}" "LIBRARY = '${libdir}/${so_name}'" at)
  check("at GREATER -1" "_install_path.py names ${libdir}/${so_name}")
  run_or_die("python: import switchc from the prefix and generate" got
             "${CMAKE_COMMAND}" -E env --unset=SWITCHC_LIBRARY --unset=LD_LIBRARY_PATH "PYTHONPATH=${pydir}"
             PYTHONDONTWRITEBYTECODE=1 ${SC_PYTHON_ENV} "${SC_PYTHON}"
             "${SC_SOURCE_DIR}/python/tests/installed_check.py" "${pydir}" "${libdir}" "${model}" "${prompt}")
  string(STRIP "${got}" got)
  check("got STREQUAL want" "the installed Python package printed '${got}', the CLI '${want}'")
else()
  message(STATUS "not checked: the installed Python package (no python3 with numpy and pytest)")
endif()

if(failures GREATER 0)
  message(FATAL_ERROR "${failures} check(s) failed")
endif()
message(STATUS "all install checks passed")
