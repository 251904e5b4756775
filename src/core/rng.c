/*-------------------------------------------------------------------------
 *
 * rng.c
 *	  Portable random numbers: xoshiro256** seeded through splitmix64.
 *
 * Training must give the same result for the same seed on every machine,
 * so the core uses its own generator instead of the C library's.  The
 * generators are those of Blackman and Vigna (https://prng.di.unimi.it);
 * bounded integers use Lemire's multiply-and-reject method, which is
 * unbiased and rarely needs a division.
 *
 *-------------------------------------------------------------------------
 */
#include "estcore.h"

/*
 * SplitMix64 advances *x and returns the next output of splitmix64, used
 * only to spread a seed over the 256 bits of xoshiro's state.
 */
static uint64_t
SplitMix64(uint64_t *x)
{
	uint64_t	z;

	*x += UINT64_C(0x9E3779B97F4A7C15);
	z = *x;
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

static inline uint64_t
Rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/*
 * Mul64 computes the 128-bit product a * b as *hi and *lo: one
 * instruction where the compiler has 128-bit integers, four products of
 * halves elsewhere.
 */
static inline void
Mul64(uint64_t a, uint64_t b, uint64_t *hi, uint64_t *lo)
{
#ifdef __SIZEOF_INT128__
	unsigned __int128 p = (unsigned __int128) a * b;

	*lo = (uint64_t) p;
	*hi = (uint64_t) (p >> 64);
#else
	uint64_t	a_lo = a & 0xFFFFFFFFu;
	uint64_t	a_hi = a >> 32;
	uint64_t	b_lo = b & 0xFFFFFFFFu;
	uint64_t	b_hi = b >> 32;
	uint64_t	p0 = a_lo * b_lo;
	uint64_t	p1 = a_lo * b_hi;
	uint64_t	p2 = a_hi * b_lo;
	uint64_t	p3 = a_hi * b_hi;
	uint64_t	mid = (p0 >> 32) + (p1 & 0xFFFFFFFFu) + (p2 & 0xFFFFFFFFu);

	*lo = (mid << 32) | (p0 & 0xFFFFFFFFu);
	*hi = p3 + (p1 >> 32) + (p2 >> 32) + (mid >> 32);
#endif
}

/*
 * EstRngSeed fills the state with four successive splitmix64 outputs of
 * seed, as the authors of xoshiro recommend.  The state cannot end up all
 * zero, because splitmix64 is a bijection of distinct counter values.
 */
void
EstRngSeed(EstRng *rng, uint64_t seed)
{
	uint64_t	x = seed;
	int			i;

	for (i = 0; i < 4; i++)
		rng->s[i] = SplitMix64(&x);
}

/*
 * EstRngNext returns the next 64 bits of xoshiro256**.
 */
uint64_t
EstRngNext(EstRng *rng)
{
	uint64_t   *s = rng->s;
	uint64_t	result = Rotl(s[1] * 5, 7) * 9;
	uint64_t	t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = Rotl(s[3], 45);
	return result;
}

/*
 * EstRngUniform returns a double in [0, 1) made of the top 53 bits of the
 * next output, so every value is a multiple of 2^-53.
 */
double
EstRngUniform(EstRng *rng)
{
	return (double) (EstRngNext(rng) >> 11) * 0x1.0p-53;
}

/*
 * EstRngBounded returns an unbiased integer in [0, bound) by Lemire's
 * method: the high word of x * bound, rejecting the few x whose low word
 * falls below 2^64 mod bound.  A bound of 0 returns 0.
 */
uint64_t
EstRngBounded(EstRng *rng, uint64_t bound)
{
	uint64_t	hi;
	uint64_t	lo;

	if (bound == 0)
		return 0;
	Mul64(EstRngNext(rng), bound, &hi, &lo);
	if (lo < bound)
	{
		uint64_t	threshold = (0 - bound) % bound;

		while (lo < threshold)
			Mul64(EstRngNext(rng), bound, &hi, &lo);
	}
	return hi;
}

/*
 * EstRngShuffle puts perm[0..n-1] in uniformly random order (Fisher-Yates,
 * from the last element down).  The swap partners come from the generator
 * alone, so they are drawn SHUFFLE_AHEAD steps early, in the same order,
 * and their elements asked for then: a large array's random accesses
 * then overlap instead of each waiting for memory.
 */
#define SHUFFLE_AHEAD 16
#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH_WRITE(p) __builtin_prefetch((p), 1)
#else
#define PREFETCH_WRITE(p) ((void) (p))
#endif

/* DrawPartner draws the swap partner of i into ahead and asks for it */
static inline void
DrawPartner(EstRng *rng, const uint32_t *perm, size_t *ahead, size_t i)
{
	ahead[i % SHUFFLE_AHEAD] = (size_t) EstRngBounded(rng, (uint64_t) i + 1);
	PREFETCH_WRITE(&perm[ahead[i % SHUFFLE_AHEAD]]);
}

void
EstRngShuffle(EstRng *rng, uint32_t *perm, size_t n)
{
	size_t		ahead[SHUFFLE_AHEAD];	/* the partner of i at i % AHEAD */
	size_t		i;

	if (n < 2)
		return;
	for (i = n - 1; i > 0 && i + SHUFFLE_AHEAD > n - 1; i--)
		DrawPartner(rng, perm, ahead, i);
	for (i = n - 1; i > 0; i--)
	{
		size_t		j = ahead[i % SHUFFLE_AHEAD];
		uint32_t	tmp = perm[i];

		if (i > SHUFFLE_AHEAD)
			DrawPartner(rng, perm, ahead, i - SHUFFLE_AHEAD);
		perm[i] = perm[j];
		perm[j] = tmp;
	}
}
