/*
 * unit.h — what every cmocka unit test includes: cmocka's own prerequisites
 * in the order it needs them, and ARRAY_LEN.
 */
#ifndef CORRAL_TESTS_UNIT_H
#define CORRAL_TESTS_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
