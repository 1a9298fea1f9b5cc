/*
 * cfloor: the floor program (../floor) in C, with no runtime at all: one
 * thread blocked in read(2) of a periodic timerfd, then one sendto(2) of
 * a fixed VRRPv3 advert (RFC 5798 section 5), as a pair's MASTER. It is
 * what the timer-and-send path would cost on a thread outside the Go
 * runtime (a cgo thread), the design docs/daemon.md ("Cost of an
 * advertisement") weighs, and it is measured next to keepalived and the
 * Go floor by pstat.sh.
 *
 *   cfloor IFACE SRC VRID PRIORITY INTERVAL_MS VIP
 *
 * It holds no state and never stops advertising: a measurement only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

static uint16_t csum(const uint8_t *b, size_t n, uint32_t sum)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)b[i] << 8 | b[i + 1];
	if (n & 1)
		sum += (uint32_t)b[n - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static long num(const char *s, long lo, long hi, const char *what)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s == 0 || *end != 0 || v < lo || v > hi) {
		fprintf(stderr, "cfloor: %s %s: want %ld..%ld\n", what, s, lo, hi);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr, "usage: cfloor IFACE SRC VRID PRIORITY INTERVAL_MS VIP\n");
		return 2;
	}
	struct in_addr src, vip, grp;
	if (inet_pton(AF_INET, argv[2], &src) != 1 || inet_pton(AF_INET, argv[6], &vip) != 1) {
		fprintf(stderr, "cfloor: SRC and VIP must be IPv4 addresses\n");
		return 2;
	}
	inet_pton(AF_INET, "224.0.0.18", &grp);
	long vrid = num(argv[3], 1, 255, "vrid");
	long prio = num(argv[4], 1, 255, "priority");
	long ms = num(argv[5], 10, 40950, "interval_ms");
	unsigned ifindex = if_nametoindex(argv[1]);
	if (ifindex == 0) {
		perror("cfloor: interface");
		return 1;
	}

	/* Version 3, type 1; one address; max advert interval in centiseconds. */
	uint8_t pkt[12] = {0x31, (uint8_t)vrid, (uint8_t)prio, 1, (uint8_t)(ms / 10 >> 8 & 0x0f), (uint8_t)(ms / 10)};
	memcpy(pkt + 8, &vip, 4);
	uint8_t pseudo[12];
	memcpy(pseudo, &src, 4);
	memcpy(pseudo + 4, &grp, 4);
	pseudo[8] = 0, pseudo[9] = 112, pseudo[10] = 0, pseudo[11] = sizeof pkt;
	uint32_t sum = 0;
	for (int i = 0; i < 12; i += 2)
		sum += (uint32_t)pseudo[i] << 8 | pseudo[i + 1];
	uint16_t c = csum(pkt, sizeof pkt, sum);
	pkt[6] = c >> 8, pkt[7] = c & 0xff;

	int s = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, 112);
	if (s < 0) {
		perror("cfloor: socket");
		return 1;
	}
	struct ip_mreqn mif = {.imr_ifindex = (int)ifindex};
	int ttl = 255, off = 0;
	if (setsockopt(s, IPPROTO_IP, IP_MULTICAST_IF, &mif, sizeof mif) < 0 ||
	    setsockopt(s, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl) < 0 ||
	    setsockopt(s, IPPROTO_IP, IP_MULTICAST_LOOP, &off, sizeof off) < 0 ||
	    setsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, argv[1], strlen(argv[1])) < 0) {
		perror("cfloor: setsockopt");
		return 1;
	}
	struct sockaddr_in dst = {.sin_family = AF_INET, .sin_addr = grp};

	int t = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (t < 0) {
		perror("cfloor: timerfd_create");
		return 1;
	}
	struct itimerspec spec = {
		.it_interval = {.tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000L},
		.it_value = {.tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000L},
	};
	if (timerfd_settime(t, 0, &spec, NULL) < 0) {
		perror("cfloor: timerfd_settime");
		return 1;
	}
	for (;;) {
		uint64_t n;
		if (read(t, &n, sizeof n) != sizeof n) {
			if (errno == EINTR)
				continue;
			perror("cfloor: read");
			return 1;
		}
		if (sendto(s, pkt, sizeof pkt, 0, (struct sockaddr *)&dst, sizeof dst) < 0) {
			perror("cfloor: sendto");
			return 1;
		}
	}
}
