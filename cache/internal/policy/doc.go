// Package policy is the cache's eviction and admission policy: it decides
// which entries stay resident under a cost budget (bytes in the cache, one
// per entry in the simulator's count mode).
//
// # The product policy ("adaptive")
//
// W-TinyLFU (Einziger, Friedman, Manes, "TinyLFU: A Highly Efficient Cache
// Admission Policy", 2017) whose window size is chosen by miniature
// simulation:
//
//   - A new entry enters a small LRU window. An entry leaving the window is a
//     candidate for the main space, a segmented LRU (probation 20%,
//     protected 80%); it competes with the probation LRU victim, and the
//     one a frequency sketch estimates as less popular is evicted (ties
//     keep the victim; a warm candidate wins at random 1/128 of the time,
//     Caffeine's defense against hash flooding). Scans and one-hit wonders
//     are thus kept out of main, and recency-friendly workloads are served
//     by the window.
//   - The sketch (sketch.go) is a count-min sketch of 4-bit counters laid out
//     as in Caffeine (one 64-byte block per key), 16 counters (8 bytes) per
//     expected entry, at least 32 KiB, all halved after 40 increments per
//     entry (Caffeine: 10). It is sized from the entries the capacity holds,
//     predicted from the mean resident cost, and grows by doubling without
//     losing counts.
//   - The window share that suits a workload ranges from ~0% (frequency
//     skewed: Zipf, search) to 20–50% (recency skewed: OLTP, bursts). It is
//     chosen by miniature simulation (minisim.go; Waldspurger et al., USENIX
//     ATC 2017): a hash-sampled subset of the keys (rate r, at least 512
//     shadow entries, r >= 1/128) is replayed through five shadow W-TinyLFU
//     caches of capacity r*capacity with window shares 1, 5, 15, 30 and 50%;
//     every 10*(shadow entries) sampled requests the main cache moves its
//     window to the share whose shadow has hit most (scores decay by half
//     each period, so workload phases are followed), if it beats the
//     current share's by more than two standard deviations of a hit count
//     (near-ties would otherwise flip the window back and forth). The
//     shadows see the same requests, so warm-up and phases shift them all
//     alike; hill climbing on the cache's own hit ratio compares different
//     periods and mistakes those shifts for the effect of its last step.
//     Shadows take misses from Admit (synchronous, in request order, with
//     the real cost) and hits from Access.
//
// # Memory
//
// Per-entry state is 10 bytes in pointer-free slices indexed by the owner's
// dense id (list.go): prev and next links of 31 bits each, whose top bits
// hold the 2-bit queue tag, and a 16-bit cost (costs >= 65535 go to a side
// map; such items are large, so the map entry is noise). The slices grow by
// doubling up to the largest id, so up to 20 bytes per resident entry are
// allocated right after a doubling. Frequency contests need the key hash of
// resident entries: when Config.Hash is set the policy asks the owner;
// otherwise it keeps a 4-byte fingerprint per entry.
//
// Shared state: the sketch, 8 bytes per expected entry rounded up to a power
// of two (8–16), at least 32 KiB; and the shadows, about 60 bytes per shadow
// entry: 5*512 shadow entries (~250–330 KiB) up to 64Ki cache entries, then
// 5/128 of the entries (~2 bytes per cache entry). MemoryBytes after filling
// and hitting: 1000 entries 367 KiB; 100,000 entries 2.5 MiB (26 B/entry:
// nodes 13.1, sketch 10.5, shadows 2.5); 1,000,000 entries 20 MiB (21
// B/entry: nodes 10.5, sketch 8.4, shadows 2.1). Sizer reports the total;
// the cache charges it to its quota. Nothing in the policy holds a pointer
// per entry, so the garbage collector does not scan it.
//
// # Cost
//
// Access is allocation-free once the shadows have filled
// (TestAccessDoesNotAllocate, BenchmarkAccess):
// an LRU move and a sketch increment, plus, for the sampled keys, the same
// in five shadows. Sampling makes the shadows' share of the work r*5: for
// caches up to 512 entries r is 1 and the policy does about six times the
// work of plain W-TinyLFU, which at that size is negligible; for large
// caches it is 5/128.
//
// # Measurements that chose the design
//
// Hit ratios in percent, count mode (every entry costs 1), from
//
//	respcache sim --trace shared/traces/gli.gz --format lirs --capacity 250,500,750,1000,1250,1500,1750,2000 --policy all
//	respcache sim --trace shared/traces/oltp.gz --format arc --capacity 250,500,750,1000,1250,1500,1750,2000 --policy all
//	respcache sim --format zipf --capacity 1000,10000,100000 --policy all
//
// (Zipf: s=1.0001, v=10, 10M keys, 10M requests, seed 1). "best peer" is the
// best figure of shared/traces/README.md; the goal is best peer - 0.5.
// wtinylfu is this package's port of Caffeine (its constants and hill
// climber); it lands within 1.5 points of the peers' otter figures in every
// column, which validates the port and the simulator (lru matches the peers'
// lru exactly). s3fifo, this package's S3-FIFO, matches the peers' s3-fifo
// within 1 point on oltp and Zipf, not on small gli sizes (the peers'
// implementation differs in details); it is a reference, not tuned.
//
//	trace  capacity  best peer  adaptive  wtinylfu  s3fifo  lru
//	gli       250    16.03      16.76     15.11      1.38    0.91
//	gli       500    32.60      33.58     33.43      1.38    0.95
//	gli       750    43.11      43.61     43.51      1.41    1.15
//	gli      1000    50.04      50.72     50.77     31.34   11.21
//	gli      1250    51.85      51.85     52.40     46.58   21.25
//	gli      1500    53.35      53.55     53.55     51.85   36.56
//	gli      1750    57.84      55.58 *   55.58     55.06   45.04
//	gli      2000    57.96      57.96     57.96     57.41   57.41
//	oltp      250    24.51      26.76     24.31     20.93   16.47
//	oltp      500    32.69      35.52     32.76     30.69   23.45
//	oltp      750    37.86      39.42     36.68     36.82   28.28
//	oltp     1000    40.83      41.93     39.82     40.14   32.83
//	oltp     1250    42.89      43.66     42.38     42.45   36.21
//	oltp     1500    44.56      45.00     43.52     44.18   38.70
//	oltp     1750    45.86      46.18     44.94     45.59   40.79
//	oltp     2000    46.94      47.34     45.96     46.84   42.47
//	zipf     1000    32.39      32.74     30.19     32.14   19.83
//	zipf    10000    48.63      48.96     48.15     48.41   38.05
//	zipf   100000    63.89      63.76     63.48     63.67   56.82
//
// Zipf seeds 2 and 3: 32.73/48.97/63.78 and 32.74/48.98/63.80. On a Zipf
// the design was not tuned on (s=0.8, v=1, 1M keys, 3M requests, capacities
// 1000/10000/100000): adaptive 19.50/33.96/54.15,
// adaptive-wide 19.50/34.39/54.64, s3fifo 19.34/33.34/54.19, wtinylfu
// 18.29/32.98/54.17, lru 9.99/23.12/48.14.
//
// What was tried on the way, on these three traces:
//
//   - Caffeine's hill climber, retuned (sample period 1–10x entries, step
//     6.25–10%, decay 0.9–0.98, restart on/off, first step up or down,
//     holding when the change is within 1–4 binomial standard deviations or
//     within a running mean of the changes, Rprop-style step halving, waiting
//     for the cache to fill or warm up): every variant missed some column.
//     The per-sample hit ratio of oltp swings between 36% and 59% with the
//     workload's phases and Zipf's by +-1.5 points, far above the effect of
//     one step, so the climber walks on noise; the settings that passed oltp
//     did so because warm-up (a rising hit ratio) pushed the window up, and
//     the same bias cost 0.5–1 point on Zipf.
//   - A probe-and-revert climber and ARC-style ghost lists (grow the window
//     on a hit in the window's ghost, shrink it on a hit in main's): worse
//     on oltp.
//   - Sketch size. Caffeine's 16 counters per entry without a floor misses
//     gli at 250 and 750 entries, and the result there moved by 2 points
//     with the hash function: tables of a few hundred words are ruled by
//     collisions. 32 counters per entry ("adaptive-wide") passes every
//     column in count mode (Zipf 1000/10000/100000: 32.74/49.24/64.21), but
//     in the cache the policy's memory is charged to the quota, and there
//     the wide sketch loses (Zipf 4 MiB: 62.43 against 62.95, see "In the
//     cache" below). The product keeps 16
//     counters per entry with a 32 KiB floor. Conservative update lowered
//     gli 250 to ~10%. Aging every 40 (not 10) increments per entry helps
//     Zipf and oltp.
//   - Admitting on equal frequency (LRU-like), aging the sketch early when
//     admissions stall, or aging it once when the cache first fills (gli
//     1750: 57.09, but gli 250–1250 lose 8–16 points): rejected.
//   - A fixed 20–30% window passes oltp but loses 2–8 points on gli; a fixed
//     1% window passes gli and Zipf but misses oltp by 3–5 points: the
//     window must adapt, and miniature simulation finds the right one on all
//     three (TestMiniSimFollowsWorkload checks it lands near 1% on Zipf and
//     at 50% on a recency-only workload).
//
// * gli at 1750 entries misses the goal (57.34) by 1.8 points. gli has 2529
// keys of which 1289 recur; at 1750 entries Belady's optimum (57.96) keeps
// all of them. The 143 misses beyond the compulsory ones are recurring keys
// that were evicted as probation victims (frequency 1, not yet recurred) by
// candidates seen twice: no window share changes that (every shadow and
// every static window tried scores 53.5–55.8), and the trace is too short
// (6015 requests) for the sketch to age. W-TinyLFU (otter 54.98), ARC
// (55.06) and CLOCK-Pro (55.05) stop at the same place. theine's 57.84
// most likely comes from its sketch losing its history whenever it grows
// while the cache fills (the table is reallocated), which ages away the
// fill-phase entries; aging at fill on purpose reproduces the gain at 1750
// and costs far more at small sizes (above).
//
// # In the cache (byte mode)
//
// `respcache sim --max-memory` replays through the real cache, which charges
// the policy's MemoryBytes to its quota and hands hits (and the misses'
// sketch increments) to the policy in batches from 32 lossy stripes of 64
// records, so the policy sees them up to ~2000 requests late and reordered;
// Admit is synchronous. Hit ratios, values of 1000 bytes (oltp) and 100
// bytes (Zipf s=1.0001 v=10, 1M keys, 2M requests):
//
//	trace  max_memory  adaptive  adaptive-wide  wtinylfu  s3fifo  lru
//	oltp    1MiB       31.88     32.10          37.29     36.70   26.21
//	oltp    2MiB       42.72     42.71          42.71     43.90   37.41
//	oltp    4MiB       49.87     49.90          50.01     50.08   47.18
//	zipf    4MiB       62.95     62.43          63.06     62.46   56.47
//	zipf   16MiB       72.48     72.14          72.37     72.39   70.35
//
// Below a few thousand entries (1 MiB of 1 KB values holds ~500) the
// adaptive policy loses to wtinylfu: the shadows' fixed ~300 KiB and the
// 32 KiB sketch floor are a third of a 1 MiB quota, and a reordering of
// ~2000 requests blurs the recency the shadows measure in caches that
// small (their scores tie, and the hysteresis then keeps the 1% window,
// where a static 30% window would reach ~39%). From a few MiB on the
// policies are within 0.1–0.6 points. Not solved: see the report.
//
// # Other policies
//
// New also knows "lru" (the baseline), "wtinylfu" (Caffeine's constants and
// hill climber), "s3fifo" (S3-FIFO with a ghost FIFO of fingerprints) and
// "adaptive-wide" (the product with a 16-byte-per-entry sketch) for the
// simulator's comparisons. They follow the same contract (pinned entries
// skipped, exact cost accounting) but only the product policy is tuned.
//
// Nothing here is safe for concurrent use: the owner serializes every call
// (the cache batches hits and replays them under its lock).
package policy
