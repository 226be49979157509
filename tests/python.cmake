# The Python package's tests (python/tests, pytest) as the ctest test
# "python", run by the interpreter cmake/python.cmake found (SC_PYTHON) with
# the package from the source tree, SWITCHC_LIBRARY = this build's shared
# library and SWITCHC_FIXTURES_DIR = tests/fixtures; in a sanitizer build
# with the ASan runtime preloaded (SC_PYTHON_ENV).
if(NOT SC_PYTHON)
  message(NOTICE "switchc: Python tests: off (${SC_PYTHON_WHY})")
  return()
endif()

set(sc_py_env
    "SWITCHC_LIBRARY=$<TARGET_FILE:switchc_shared>"
    "SWITCHC_FIXTURES_DIR=${CMAKE_CURRENT_SOURCE_DIR}/tests/fixtures"
    "PYTHONDONTWRITEBYTECODE=1"
    "PYTHONPATH=${CMAKE_CURRENT_SOURCE_DIR}/python")
list(APPEND sc_py_env ${SC_PYTHON_ENV})
message(NOTICE "switchc: Python tests: on (${SC_PYTHON})")

# -p no:cacheprovider: no .pytest_cache in the source tree.
add_test(NAME python COMMAND ${SC_PYTHON} -m pytest -q -p no:cacheprovider
         ${CMAKE_CURRENT_SOURCE_DIR}/python/tests)
set_tests_properties(python PROPERTIES ENVIRONMENT "${sc_py_env}" TIMEOUT 900)

# The corpus and plotting scripts (scripts/corpus, scripts/plot_training.py):
# standard-library Python, tested on inputs the tests write themselves (the
# machine's own documentation is never read here).
add_test(NAME corpus_scripts COMMAND ${SC_PYTHON} -m pytest -q -p no:cacheprovider
         ${CMAKE_CURRENT_SOURCE_DIR}/scripts/corpus/tests)
set_tests_properties(corpus_scripts PROPERTIES ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1" TIMEOUT 600)
