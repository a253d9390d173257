/*
 * privacy_int.h: what the privacy part's C files share among themselves.
 */
#ifndef RETAILIQ_PRIVACY_INT_H
#define RETAILIQ_PRIVACY_INT_H

#include "catalog/objectaddress.h"

extern void privacy_labels_init(void);
extern void privacy_hooks_init(void);
extern void privacy_check_label_change(const ObjectAddress *object);
extern bool privacy_role_is_masked(Oid roleid);
extern void privacy_role_labels_changed(void);
extern bool privacy_relation_is_labelled(Oid relid);

#endif
