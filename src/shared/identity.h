/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Who a job belongs to, and doing things as that user: every sheet,
 * validation pass, workspace creation and score read of a job happens
 * with its owner's uid, gid and supplementary groups, never with the
 * conductor's own rights. */

#include <sys/types.h>

#include "macro.h"

typedef struct Identity {
        uid_t uid;
        gid_t gid;
        gid_t *groups;          /* supplementary groups, from the group database */
        size_t n_groups;
        char *name;             /* NULL if the uid has no passwd entry */
        char *home;             /* "/" without a passwd entry */
        char *shell;            /* "/bin/sh" without a passwd entry */
} Identity;

/* Look the user up (passwd and group databases). gid is the caller's gid
 * as the bus reported it; (gid_t) -1 takes the passwd entry's. */
int identity_load(uid_t uid, gid_t gid, Identity *ret);
void identity_done(Identity *id);
int identity_copy(const Identity *src, Identity *ret);

/* True when acting as id needs no change of credentials. */
bool identity_is_self(const Identity *id);

/* In a forked child: become id (groups, gid, uid, in that order, and
 * verify nothing can be regained).  Returns negative errno. */
int identity_become(const Identity *id);

/* Read a whole regular file with id's rights, at most max bytes
 * (-EFBIG beyond).  Runs in a forked child unless identity_is_self(), and
 * gives up after 10 s (-ETIMEDOUT): the user may stop the child, or the
 * file may be on a FUSE mount of theirs that never answers. */
int identity_read_file(const Identity *id, const char *path, size_t max, char **ret, size_t *ret_size);
/* The same for a file descriptor the user passed (read from its start
 * position, regular files only). */
int identity_read_fd(const Identity *id, int fd, size_t max, char **ret, size_t *ret_size);

/* mkdir -p with id's rights (bounded like the reads), then check id may write into the directory:
 * a path through a symlink into a place id may not write fails (-EACCES)
 * and creates nothing there. */
int identity_mkdir_p(const Identity *id, const char *path, mode_t mode);
