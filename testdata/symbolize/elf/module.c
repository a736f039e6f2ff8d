/* Built as a relocatable object, like a kernel module: code in .text and in .init.text. */
static inline __attribute__((always_inline)) int mod_inner(int *p)
{
	return p ? *p * 2 : -1;
}

__attribute__((noinline)) int mod_probe(int *p, int n)
{
	int s = 0;
	for (int i = 0; i < n; i++)
		s += mod_inner(p + i);
	return s;
}

__attribute__((noinline, section(".init.text"))) int mod_init(int *p)
{
	return mod_inner(p) + mod_probe(p, 3);
}
