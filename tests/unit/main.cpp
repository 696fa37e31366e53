// main.cpp - doctest's runner for the unit tests of the core library.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
