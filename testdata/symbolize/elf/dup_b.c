/* The other static `helper`, larger than the one in dup_a.c. */
__attribute__((noinline)) static int helper(int x)
{
	int s = 0;
	for (int i = 0; i < x; i++)
		s += i * i ^ x;
	return s + x / 3;
}

int dup_b(int x)
{
	return helper(x) - helper(x - 1);
}
