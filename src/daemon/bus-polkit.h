/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Asynchronous polkit checks, the way systemd's daemons do them: the
 * method call that needs authorization starts a CheckAuthorization and
 * returns without replying; when polkit answers, the same message is put
 * back on the bus's read queue and dispatched again, and this time the
 * answer is there.  The conductor keeps serving everyone meanwhile. */

#include <systemd/sd-bus.h>

#include "macro.h"

#define POLKIT_ACTION_START_JOB   "org.marianne.conductor.start-job"
#define POLKIT_ACTION_VIEW_JOBS   "org.marianne.conductor.view-jobs"
#define POLKIT_ACTION_MANAGE_JOBS "org.marianne.conductor.manage-jobs"
#define POLKIT_ACTION_ADMINISTER  "org.marianne.conductor.administer"

typedef struct PolkitRegistry PolkitRegistry;

PolkitRegistry *polkit_registry_new(void);
PolkitRegistry *polkit_registry_free(PolkitRegistry *r);
unsigned polkit_registry_pending(PolkitRegistry *r);

/* 1: authorized, go on.  0: asked polkit; return 1 from the method
 * handler without replying, the call comes back later.  Negative: denied
 * (also when polkit cannot be reached), with AccessDenied set in error. */
int bus_polkit_check(sd_bus_message *call, const char *action, bool interactive,
                     PolkitRegistry *registry, sd_bus_error *error);
