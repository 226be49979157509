# The Python package (python/switchc: ctypes over libswitchc.so, numpy; pure
# Python, nothing to compile). Installed into
# <prefix>/${SWITCHC_PYTHON_DIR}/switchc (default lib/python3/dist-packages,
# where Debian's python3 looks under /usr and /usr/local) together with a
# generated _install_path.py naming the installed shared library, so that
# `import switchc` finds the library it was installed with. Also finds the
# interpreter the tests use (SC_PYTHON: one whose numpy and pytest import),
# for tests/python.cmake and the install test. Leaves out wheels and
# byte-compiling: Python compiles the files on first import.
set(SWITCHC_PYTHON_DIR "lib/python3/dist-packages" CACHE STRING
    "Where the Python package goes, relative to the install prefix")

install(DIRECTORY python/switchc/ DESTINATION ${SWITCHC_PYTHON_DIR}/switchc
        FILES_MATCHING PATTERN "*.py" PATTERN "_install_path.py" EXCLUDE PATTERN "__pycache__" EXCLUDE)

# The library's path is known only at install time (--prefix may differ from
# CMAKE_INSTALL_PREFIX), so the file is written then, as switchc.pc is.
# DESTDIR stages the file while the path inside it stays the final one.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(sc_py_libdir "${CMAKE_INSTALL_LIBDIR}")
else()
  set(sc_py_libdir "\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE "${SWITCHC_PYTHON_DIR}")
  set(sc_py_dest "${SWITCHC_PYTHON_DIR}/switchc")
else()
  set(sc_py_dest "\${CMAKE_INSTALL_PREFIX}/${SWITCHC_PYTHON_DIR}/switchc")
endif()
install(CODE "
  file(WRITE \"${CMAKE_CURRENT_BINARY_DIR}/pkg/installed/_install_path.py\"
       \"# Written by cmake --install: the shared library this package was installed with.\\n\"
       \"LIBRARY = '${sc_py_libdir}/libswitchc.so.${SWITCHC_SOVERSION}'\\n\")
  file(INSTALL DESTINATION \"${sc_py_dest}\" TYPE FILE
       FILES \"${CMAKE_CURRENT_BINARY_DIR}/pkg/installed/_install_path.py\")
")

# An interpreter for the tests: Debian's /usr/bin/python3 first (python3-numpy
# and python3-pytest install there), then python3 on the PATH. Not for a
# cross build: the library it would load cannot run on this host. A
# sanitizer build's library needs the ASan runtime loaded before the (not
# instrumented) interpreter starts: SC_PYTHON_ENV preloads it, with leak
# detection off since the interpreter's own allocations would count as leaks.
set(SC_PYTHON "")
set(SC_PYTHON_ENV "")
set(SC_PYTHON_WHY "apt install python3-numpy python3-pytest")
if(CMAKE_CROSSCOMPILING)
  set(SC_PYTHON_WHY "cross build: the library cannot be loaded on this host")
else()
  find_program(SC_PYTHON_ON_PATH NAMES python3)
  foreach(py /usr/bin/python3 ${SC_PYTHON_ON_PATH})
    if(EXISTS "${py}" AND NOT SC_PYTHON)
      execute_process(COMMAND "${py}" -c "import numpy, pytest" RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
      if(rc EQUAL 0)
        set(SC_PYTHON "${py}")
      endif()
    endif()
  endforeach()
endif()
if(SC_PYTHON AND SWITCHC_SANITIZE)
  execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so OUTPUT_VARIABLE sc_asan_rt
                  OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(IS_ABSOLUTE "${sc_asan_rt}" AND EXISTS "${sc_asan_rt}")
    set(SC_PYTHON_ENV "LD_PRELOAD=${sc_asan_rt}" "ASAN_OPTIONS=detect_leaks=0")
  else()
    set(SC_PYTHON "")
    set(SC_PYTHON_WHY "${CMAKE_C_COMPILER} names no libasan.so to preload into the interpreter")
  endif()
endif()
