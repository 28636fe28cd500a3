/* What the integration tests know of the local stack: the STACK_* variables
 * that deploy/local/stack-up.sh writes to $STACK_HOME/stack.env. A missing
 * variable fails the test: nothing here passes by skipping. */
#pragma once

#include "core/config.h"

/* The variable's value; fails the running cmocka test when it is unset. */
const char *stack_env(const char *name);
/* A bw_config pointed at the stack (Kafka, Redis, Docker socket). */
void stack_config(bw_config *cfg);
/* "127.0.0.1:5000/bundle-test/NAME:1.0" */
char *stack_image(const char *name);
