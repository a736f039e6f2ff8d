/* Memory pressure helper run as PID 1's child inside a throwaway qemu VM (never on a real host).
 *   memhog frag  : touch and mlock most free memory, then unlock and drop every other page so that
 *                  free memory is plentiful but split into order-0 pieces (compaction of mlocked
 *                  pages is disabled by /init), then ask the kernel for a 4 MiB kmalloc through a
 *                  sendmsg() control buffer (sock_kmalloc, GFP_KERNEL, no __GFP_NOWARN): an
 *                  order-10 request that fails and prints "page allocation failure".
 *   memhog hold MiB : touch MiB of anonymous memory and sleep (a bystander task).
 *   memhog grow  : oom_score_adj 1000, touch memory 1 MiB at a time until the OOM killer fires.
 *   memhog touch PATH MiB SECONDS : map the first MiB of PATH (a file or block device) shared and
 *                  read one byte of every page, over and over, for SECONDS: a page cache working set
 *                  that the kernel sees referenced at every reclaim. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <fcntl.h>
#include <time.h>

static long avail_kib(void) {
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	long v = -1;
	if (!f) return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "MemAvailable: %ld kB", &v) == 1) break;
	fclose(f);
	return v;
}

static int frag(void) {
	long kib = avail_kib() - 8 * 1024;
	if (kib <= 0) { fprintf(stderr, "memhog: no memory to fragment\n"); return 1; }
	size_t len = (size_t)kib * 1024, pg = 4096, i;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) { perror("memhog: mmap"); return 1; }
	madvise(p, len, MADV_NOHUGEPAGE); /* 4 KiB pages, so that dropping every other one fragments */
	for (i = 0; i < len; i += pg) p[i] = 1;
	if (mlock(p, len)) { perror("memhog: mlock"); return 1; }
	for (i = 0; i < len; i += 2 * pg) {
		munlock(p + i, pg);
		madvise(p + i, pg, MADV_DONTNEED);
	}
	printf("memhog: fragmented %ld KiB, MemAvailable now %ld kB\n", kib, avail_kib());
	fflush(stdout);
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv)) { perror("memhog: socketpair"); return 1; }
	static char data[1] = "x";
	struct iovec iov = { data, 1 };
	size_t clen = 4u << 20;
	char *ctl = calloc(1, clen);
	if (!ctl) return 1;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = clen };
	if (sendmsg(sv[0], &m, 0) < 0) perror("memhog: sendmsg with a 4 MiB control buffer");
	else printf("memhog: sendmsg with a 4 MiB control buffer succeeded\n");
	return 0;
}

static int hold(long mib) {
	size_t len = (size_t)mib << 20, i;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) { perror("memhog: mmap"); return 1; }
	for (i = 0; i < len; i += 4096) p[i] = 1;
	printf("memhog: holding %ld MiB\n", mib);
	fflush(stdout);
	for (;;) pause();
}

static int grow(void) {
	FILE *f = fopen("/proc/self/oom_score_adj", "w");
	if (f) { fputs("1000\n", f); fclose(f); }
	for (long n = 1;; n++) {
		char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) { perror("memhog: mmap"); return 1; }
		for (size_t i = 0; i < (1 << 20); i += 4096) p[i] = 1;
		if (n % 32 == 0) { printf("memhog: %ld MiB\n", n); fflush(stdout); }
	}
}

static int touch(const char *path, long mib, long seconds) {
	size_t len = (size_t)mib << 20, i;
	int fd = open(path, O_RDONLY);
	if (fd < 0) { perror("memhog: open"); return 1; }
	volatile char *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) { perror("memhog: mmap"); return 1; }
	time_t end = time(NULL) + seconds;
	unsigned long sum = 0, rounds = 0;
	while (time(NULL) < end) {
		for (i = 0; i < len; i += 4096) sum += p[i];
		rounds++;
	}
	printf("memhog: touched %ld MiB of %s %lu times (%lu)\n", mib, path, rounds, sum);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv) {
	if (argc >= 5 && !strcmp(argv[1], "touch")) return touch(argv[2], atol(argv[3]), atol(argv[4]));
	if (argc >= 2 && !strcmp(argv[1], "frag")) return frag();
	if (argc >= 3 && !strcmp(argv[1], "hold")) return hold(atol(argv[2]));
	if (argc >= 2 && !strcmp(argv[1], "grow")) return grow();
	fprintf(stderr, "usage: memhog frag | hold MiB | grow | touch PATH MiB SECONDS\n");
	return 2;
}
