/* Test program for memdx-symbolize: forced inlining three levels deep and a duplicate static name. */
#include <stdlib.h>

struct obj { int refs; int size; struct obj *next; };

int dup_a(int x);
int dup_b(int x);

static inline __attribute__((always_inline)) int slab_equal_or_root(struct obj *o, struct obj *root)
{
	if (o == root)
		return 1;
	return o->next == root;
}

static inline __attribute__((always_inline)) struct obj *cache_from_obj(struct obj *o, struct obj *root)
{
	if (slab_equal_or_root(o, root))
		return o;
	o->refs += 3;
	return o->next;
}

__attribute__((noinline)) void obj_free(struct obj *o, struct obj *root)
{
	struct obj *c = cache_from_obj(o, root);
	if (c)
		c->refs--;
	free(o);
}

__attribute__((noinline)) int obj_walk(struct obj *o, int n)
{
	int sum = 0;
	for (int i = 0; i < n && o; i++) {
		sum += o->size * dup_a(i) + dup_b(o->refs);
		o = cache_from_obj(o, o->next);
	}
	return sum;
}

int main(int argc, char **argv)
{
	struct obj *o = calloc(1, sizeof(*o));
	(void)argv;
	o->size = argc;
	int r = obj_walk(o, argc);
	obj_free(o, NULL);
	return r & 1;
}
