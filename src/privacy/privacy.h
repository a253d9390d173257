/*
 * privacy.h: what the module entry point calls: the label provider, GUCs and hooks.
 */
#ifndef RETAILIQ_PRIVACY_H
#define RETAILIQ_PRIVACY_H

extern void privacy_init(void);

#endif
