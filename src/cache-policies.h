/* cache-policies.h - the expert cache's replacement policies by name: the
 * one list behind the engine's --cache-policy (engine/cache-policy.c), the
 * protocol's "cache_policy" (protocol.c) and the front end's --cache-policy.
 *
 * It lives here, not in the engine, because the front end links src/ and
 * never engine code: the engine takes the names from the shared side, the
 * way it already takes the protocol. Each user makes its own table with
 * X(id, name), indexed by its own constant (CACHE_##id, LOAD_POLICY_##id),
 * so a name cannot land on another policy's number; the engine's order
 * (the first is its default) is the order here. The help texts and man
 * pages that spell the list out are checked against it (tests/policy-names.sh). */
#ifndef HEFT_CACHE_POLICIES_H
#define HEFT_CACHE_POLICIES_H

#define CACHE_POLICIES(X) \
	X(LRFU, "lrfu") \
	X(LAYER_LRU, "layer-lru") \
	X(LRU, "lru") \
	X(LFU, "lfu") \
	X(FREQ, "freq")

#endif
