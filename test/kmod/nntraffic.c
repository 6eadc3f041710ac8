// SPDX-License-Identifier: GPL-2.0-only
/*
 * nntraffic - a UDP peer for the kmod tests: binds a port, optionally sends
 * a numbered datagram every INTERVAL ms to a destination, and logs every
 * datagram it sends and receives with CLOCK_REALTIME nanoseconds.
 *
 *   nntraffic [-6] -b PORT [-t ADDR -p PORT -i MS] [-e] -d SECONDS
 *             [-s SENDLOG] [-r RECVLOG]
 *
 * -e answers each received datagram (an echo peer, for replied flows).
 * Logs (line-buffered): "SEQ NS" (sent), "SEQ NS FROM_ADDR FROM_PORT" (received).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage dst = { 0 }, src, me = { 0 };
	int v6 = 0, bport = 0, dport = 0, interval = 20, echo = 0, opt, fd;
	const char *to = NULL, *slog = NULL, *rlog = NULL;
	double dur = 1;
	FILE *sf = NULL, *rf = NULL;
	long long end, next;
	unsigned long seq = 0;
	socklen_t dlen, slen;
	char buf[256], addr[64];

	while ((opt = getopt(argc, argv, "6b:t:p:i:ed:s:r:")) != -1) {
		switch (opt) {
		case '6': v6 = 1; break;
		case 'b': bport = atoi(optarg); break;
		case 't': to = optarg; break;
		case 'p': dport = atoi(optarg); break;
		case 'i': interval = atoi(optarg); break;
		case 'e': echo = 1; break;
		case 'd': dur = atof(optarg); break;
		case 's': slog = optarg; break;
		case 'r': rlog = optarg; break;
		default: fprintf(stderr, "usage: see source\n"); return 2;
		}
	}
	fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) { perror("socket"); return 1; }
	opt = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &opt, sizeof(opt));
	if (v6) {
		struct sockaddr_in6 *m = (struct sockaddr_in6 *)&me;

		m->sin6_family = AF_INET6;
		m->sin6_port = htons(bport);
		m->sin6_addr = in6addr_any;
		dlen = sizeof(*m);
	} else {
		struct sockaddr_in *m = (struct sockaddr_in *)&me;

		m->sin_family = AF_INET;
		m->sin_port = htons(bport);
		m->sin_addr.s_addr = INADDR_ANY;
		dlen = sizeof(*m);
	}
	if (bind(fd, (struct sockaddr *)&me, dlen) < 0) { perror("bind"); return 1; }
	if (to) {
		if (v6) {
			struct sockaddr_in6 *d = (struct sockaddr_in6 *)&dst;

			d->sin6_family = AF_INET6;
			d->sin6_port = htons(dport);
			if (inet_pton(AF_INET6, to, &d->sin6_addr) != 1) return 2;
		} else {
			struct sockaddr_in *d = (struct sockaddr_in *)&dst;

			d->sin_family = AF_INET;
			d->sin_port = htons(dport);
			if (inet_pton(AF_INET, to, &d->sin_addr) != 1) return 2;
		}
	}
	if (slog) sf = fopen(slog, "w");
	if (rlog) rf = fopen(rlog, "w");
	/* line-buffered: the logs can be read while the tool runs */
	if (sf) setvbuf(sf, NULL, _IOLBF, 0);
	if (rf) setvbuf(rf, NULL, _IOLBF, 0);
	end = now_ns() + (long long)(dur * 1e9);
	next = now_ns();
	while (now_ns() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long long t = now_ns();
		int wait = to ? (int)((next - t) / 1000000) : 20;

		if (to && t >= next) {
			int n = snprintf(buf, sizeof(buf), "natnow %lu %lld", seq, t);

			sendto(fd, buf, n, 0, (struct sockaddr *)&dst, dlen);
			if (sf) fprintf(sf, "%lu %lld\n", seq, t);
			seq++;
			next += interval * 1000000LL;
			continue;
		}
		if (wait < 0) wait = 0;
		if (poll(&p, 1, wait) > 0) {
			unsigned long rs = 0;
			long long st = 0;
			ssize_t n;

			slen = sizeof(src);
			n = recvfrom(fd, buf, sizeof(buf) - 1, 0, (struct sockaddr *)&src, &slen);
			if (n <= 0) continue;
			buf[n] = 0;
			sscanf(buf, "natnow %lu %lld", &rs, &st);
			if (src.ss_family == AF_INET6)
				inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&src)->sin6_addr, addr, sizeof(addr));
			else
				inet_ntop(AF_INET, &((struct sockaddr_in *)&src)->sin_addr, addr, sizeof(addr));
			if (rf) fprintf(rf, "%lu %lld %s %d\n", rs, now_ns(), addr,
					ntohs(src.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&src)->sin6_port
						: ((struct sockaddr_in *)&src)->sin_port));
			if (echo) sendto(fd, buf, n, 0, (struct sockaddr *)&src, slen);
		}
	}
	if (sf) fclose(sf);
	if (rf) fclose(rf);
	return 0;
}
