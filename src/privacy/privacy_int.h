/*
 * privacy_int.h: what the privacy part's C files share among themselves.
 *
 * Calls go one way: hooks.c -> labels.c -> masked_roles.c, and hooks.c -> masked_roles.c.
 */
#ifndef RETAILIQ_PRIVACY_INT_H
#define RETAILIQ_PRIVACY_INT_H

#include "catalog/objectaddress.h"

/* labels.c: the label provider (calls masked_roles.c) */
extern void privacy_labels_init(void);

/* masked_roles.c: the per-backend cache of roles labelled MASKED (calls nothing here) */
extern void privacy_masked_roles_init(void);
extern bool privacy_role_is_masked(Oid roleid);
extern void privacy_role_labels_changed(void);

#endif
