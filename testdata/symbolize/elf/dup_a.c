/* A static function named `helper`, as in dup_b.c: two symbols with one name and different sizes. */
__attribute__((noinline)) static int helper(int x)
{
	return x * 7 + 1;
}

int dup_a(int x)
{
	return helper(x) + helper(x + 1);
}
