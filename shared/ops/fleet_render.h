/* The fleet view drawn as text: the screen of `bundle-worker watch`
 * (fleet_render.c), from a fleet_view (fleet_view.h). */
#pragma once

#include "ops/fleet_view.h"

#include <stdint.h>

/* The frame: at most `height` lines separated by '\n' (none after the last),
 * each at most `width` bytes of printable ASCII (other characters become
 * '?'), never wrapping: columns shrink, then the least useful ones go, for a
 * narrow terminal; sections shorten (with "... N more") for a short one.
 * A new string. */
char *fleet_view_render(const fleet_view *fv, int width, int height, int64_t now_ms);
