/*
 * net-test.c: a virtio-net driver test for the long-mode test kernel
 * (entry.S); runs unchanged on swiftvmm and on QEMU (-bios, no other
 * firmware, a tap backend). In ring 0 it finds the card on PCI bus 0
 * (modern 1af4:1041 or QEMU's transitional 1af4:1000), assigns the BARs,
 * negotiates VERSION_1 + MAC (+ STATUS when offered), sets up the receive
 * (16 x 2 KiB buffers) and transmit queues and reads its MAC. Then it drops
 * to ring 3 (native speed on hosts that emulate ring 0) and, polling without
 * interrupts, talks IPv4 on a point-to-point link, guest 10.77.0.2 and host
 * 10.77.0.1:
 *
 *   - ARP request for the host; checks the reply,
 *   - ICMP echo request to the host; checks the reply and its checksum,
 *   - a UDP datagram to 10.77.0.1:7777 (the test listens for it),
 *   - prints "virtio-net-test: serving", then answers ARP requests and ICMP
 *     echo requests from the host until it has answered three pings and
 *     seen a UDP datagram to port 7778, whose header it checks: flags 0 and
 *     a valid checksum, or with OFFLOAD (CSUM and GUEST_CSUM negotiated;
 *     virtio-net-offload.bin) NEEDS_CSUM, the host having left the checksum
 *     to the guest; its own datagram then leaves the checksum to the device.
 *
 * HOSTILE (virtio-net-hostile.bin) first hands the device what it must drop:
 * a TX chain one byte over header + 64 KiB + Ethernet header, one shorter
 * than the header, and a first receive buffer of 8 bytes; it checks they
 * come back, then does all of the above (swiftvmm only: QEMU marks the
 * device broken on a short TX header instead).
 *
 * Each check prints "virtio-net-test: <check> ok|FAIL"; the end is
 * "virtio-net-test: done pass=N fail=M" and M written to isa-debug-exit.
 * Timeouts count TSC ticks (1e9 per "second": a second or less on hosts
 * of 1 GHz and up).
 *
 * BENCH_MODE builds the benchmark instead of the serving phase:
 *   1 (TX): BENCH_COUNT UDP frames of BENCH_SIZE bytes to 10.77.0.1:9,
 *           then "virtio-net-bench: tx done N".
 *   2 (RX): counts UDP frames to port 5001 until one to port 5002 arrives,
 *           then "virtio-net-bench: rx frames N bytes B".
 */
#include "virtio-pci.h"

#define HOST_IP     0x0A4D0001u     /* 10.77.0.1 */
#define GUEST_IP    0x0A4D0002u     /* 10.77.0.2 */
#define PING_ID     0x5356
#define SERVE_PINGS 3

#define RX_DESC     0x30000
#define RX_AVAIL    0x31000
#define RX_USED     0x32000
#define TX_DESC     0x33000
#define TX_AVAIL    0x34000
#define TX_USED     0x35000
#define RX_BUFS     0x40000         /* QSIZE x BUFSZ */
#define TX_BUFS     0x50000
#define QSIZE       16
#define BUFSZ       2048
#define NET_HDR     12              /* struct virtio_net_hdr_v1 (VERSION_1: num_buffers included) */
#define SECOND      1000000000ul    /* TSC ticks */

#define F_CSUM      (1u << 0)
#define F_GUEST_CSUM (1u << 1)
#define F_MAC       (1u << 5)
#define F_STATUS    (1u << 16)

static u8 my_mac[6], host_mac[6];
static u64 rx_notify, tx_notify;
static u16 rx_avail, rx_used_seen, tx_avail;
static volatile int have_host_mac, got_pong, pong_checksum_ok;
/* The host's UDP datagram to port 7778: seen, its virtio-net header flags, checksum valid. */
static volatile int udp_seen, udp_flags, udp_checksum_ok;
#ifdef HOSTILE
/* Receive buffer 0 starts 8 bytes long, too small for the header. */
static volatile int tiny_rx_posted, tiny_rx_returned;
#endif
static volatile u32 arp_answered, pings_answered;
#if BENCH_MODE == 2
static u64 bench_frames, bench_bytes;
static int bench_end;
#endif

static void report(const char *check, int ok) { report_check("virtio-net-test", check, ok); }

static inline u64 rdtsc(void) { u32 lo, hi; __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi)); return (u64)hi << 32 | lo; }
static inline void put16(u8 *p, u16 v) { p[0] = (u8)(v >> 8); p[1] = (u8)v; }
static inline void put32(u8 *p, u32 v) { put16(p, (u16)(v >> 16)); put16(p + 2, (u16)v); }
static inline u16 get16(const u8 *p) { return (u16)(p[0] << 8 | p[1]); }
static inline u32 get32(const u8 *p) { return (u32)get16(p) << 16 | get16(p + 2); }
static void copy(u8 *d, const u8 *s, u32 n) { while (n--) *d++ = *s++; }
static int same(const u8 *a, const u8 *b, u32 n) { while (n--) if (*a++ != *b++) return 0; return 1; }

/* The one's-complement sum of RFC 1071, folded to 16 bits, from `sum`. */
static u16 sum16(const u8 *p, u32 n, u32 sum) {
    for (; n > 1; p += 2, n -= 2) sum += get16(p);
    if (n) sum += (u32)p[0] << 8;
    while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
    return (u16)sum;
}

/* The Internet checksum (RFC 1071). */
static u16 checksum(const u8 *p, u32 n) { return (u16)~sum16(p, n, 0); }

/* The UDP pseudo-header's sum (RFC 768): addresses, protocol, length. */
static u32 pseudo_header(u32 src, u32 dst, u32 udp_len) {
    return (src >> 16) + (src & 0xFFFF) + (dst >> 16) + (dst & 0xFFFF) + 17 + udp_len;
}

static void put_mac(const u8 *m) {
    for (int i = 0; i < 6; i++) {
        putc_serial("0123456789abcdef"[m[i] >> 4]);
        putc_serial("0123456789abcdef"[m[i] & 15]);
        if (i < 5) putc_serial(':');
    }
}

/* ---- the queues ---- */

static void queue_setup(int index, u64 desc, u64 avail, u64 used, u64 *notify_at) {
    MMIO16(common + 0x16) = (u16)index;
    MMIO16(common + 0x18) = QSIZE;
    MMIO64(common + 0x20) = desc;
    MMIO64(common + 0x28) = avail;
    MMIO64(common + 0x30) = used;
    *notify_at = notify + (u64)MMIO16(common + 0x1E) * notify_mult;
    MMIO16(common + 0x1C) = 1;
}

/* The next received frame (after the virtio-net header): 1, or 0 when none. */
static int rx_poll(u8 **frame, u32 *len, u16 *id) {
    volatile u16 *used = (volatile u16 *)RX_USED;
    if (used[1] == rx_used_seen) return 0;
    barrier();
    volatile u32 *e = (volatile u32 *)(RX_USED + 4 + 8 * (u64)(rx_used_seen % QSIZE));
    *id = (u16)e[0];
    u32 written = e[1];
    rx_used_seen++;
#ifdef HOSTILE
    if (*id == 0 && tiny_rx_posted && !tiny_rx_returned) {
        tiny_rx_returned = written == 0;
        ((volatile u64 *)RX_DESC)[1] = BUFSZ | (u64)2 << 32;   /* a whole buffer again */
    }
#endif
    *len = written > NET_HDR ? written - NET_HDR : 0;
    *frame = (u8 *)(RX_BUFS + (u64)(*id % QSIZE) * BUFSZ + NET_HDR);
    return 1;
}

/* Gives buffer `id` back to the device (kicked later, once per batch). */
static void rx_recycle(u16 id) {
    volatile u16 *avail = (volatile u16 *)RX_AVAIL;
    avail[2 + rx_avail % QSIZE] = id;
    barrier();
    avail[1] = ++rx_avail;
}

static void rx_kick(void) { MMIO16(rx_notify) = 0; }

/* The next transmit buffer (after the header), once a slot is free. */
static u8 *tx_buffer(void) {
    volatile u16 *used = (volatile u16 *)TX_USED;
    while ((u16)(tx_avail - used[1]) >= QSIZE) __asm__ volatile("pause");
    u8 *b = (u8 *)(TX_BUFS + (u64)(tx_avail % QSIZE) * BUFSZ);
    for (int i = 0; i < NET_HDR; i++) b[i] = 0;   /* no offloads */
    return b + NET_HDR;
}

/* Queues the frame in the current slot; notifies when `kick`. */
static void tx_post(u32 len, int kick) {
    u16 slot = tx_avail % QSIZE;
    volatile u64 *desc = (volatile u64 *)TX_DESC;
    desc[2 * slot] = TX_BUFS + (u64)slot * BUFSZ;
    desc[2 * slot + 1] = (u64)(NET_HDR + (len < 60 ? 60 : len));   /* flags 0: device-readable */
    volatile u16 *avail = (volatile u16 *)TX_AVAIL;
    avail[2 + slot] = slot;
    barrier();
    avail[1] = ++tx_avail;
    /* The index must be visible before the flags are read (a store-load
     * order x86 does not keep by itself), then VRING_USED_F_NO_NOTIFY
     * says whether the device wants the notification (§2.7.10). */
    __asm__ volatile("mfence" ::: "memory");
    if (kick && !(*(volatile u16 *)TX_USED & 1)) MMIO16(tx_notify) = 0;
}

#ifdef HOSTILE
/* A transmit chain of one buffer as the guest likes it, however wrong. */
static void tx_post_raw(u64 address, u32 len) {
    u16 slot = tx_avail % QSIZE;
    volatile u64 *desc = (volatile u64 *)TX_DESC;
    desc[2 * slot] = address;
    desc[2 * slot + 1] = len;
    volatile u16 *avail = (volatile u16 *)TX_AVAIL;
    avail[2 + slot] = slot;
    barrier();
    avail[1] = ++tx_avail;
    __asm__ volatile("mfence" ::: "memory");
    MMIO16(tx_notify) = 0;
}

/* Frames the device must drop (virtio-net threat model), then carry on. */
static void hostile_transmit(void) {
    tx_post_raw(0x60000, 12 + 65536 + 14 + 1);   /* one byte over header + 64 KiB + Ethernet header */
    tx_post_raw(0x60000, 4);                     /* shorter than the header */
    volatile u16 *used = (volatile u16 *)TX_USED;
    u64 start = rdtsc();
    while (used[1] != tx_avail && rdtsc() - start < SECOND) __asm__ volatile("pause");
    report("oversize and short TX chains returned", used[1] == tx_avail);
}
#endif

/* ---- the protocols ---- */

static u8 *ethernet(u8 *f, const u8 *dst, u16 type) {
    copy(f, dst, 6);
    copy(f + 6, my_mac, 6);
    put16(f + 12, type);
    return f + 14;
}

static void send_arp(u16 op, const u8 *target_mac, u32 target_ip) {
    static const u8 broadcast[6] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    static const u8 unknown[6] = {0, 0, 0, 0, 0, 0};
    u8 *f = tx_buffer();
    for (int i = 0; i < 60; i++) f[i] = 0;
    u8 *a = ethernet(f, op == 1 ? broadcast : target_mac, 0x0806);
    put16(a, 1); put16(a + 2, 0x0800); a[4] = 6; a[5] = 4; put16(a + 6, op);
    copy(a + 8, my_mac, 6); put32(a + 14, GUEST_IP);
    copy(a + 18, op == 1 ? unknown : target_mac, 6); put32(a + 24, target_ip);
    tx_post(60, 1);
}

/* An IPv4 header for `payload` bytes of `protocol` to `dst`; returns the payload. */
static u8 *ipv4(u8 *p, u8 protocol, u32 dst, u32 payload) {
    p[0] = 0x45; p[1] = 0; put16(p + 2, (u16)(20 + payload)); put16(p + 4, 0); put16(p + 6, 0x4000);
    p[8] = 64; p[9] = protocol; put16(p + 10, 0); put32(p + 12, GUEST_IP); put32(p + 16, dst);
    put16(p + 10, checksum(p, 20));
    return p + 20;
}

__attribute__((unused)) static void send_echo_request(u16 seq) {
    u8 *f = tx_buffer();
    u8 *icmp = ipv4(ethernet(f, host_mac, 0x0800), 1, HOST_IP, 64);
    icmp[0] = 8; icmp[1] = 0; put16(icmp + 2, 0); put16(icmp + 4, PING_ID); put16(icmp + 6, seq);
    for (int i = 8; i < 64; i++) icmp[i] = (u8)i;
    put16(icmp + 2, checksum(icmp, 64));
    tx_post(14 + 20 + 64, 1);
}

static void answer_echo(const u8 *f, const u8 *icmp, u32 icmp_len, u32 src) {
    if (icmp_len > 1400) return;
    u8 *out = tx_buffer();
    u8 *reply = ipv4(ethernet(out, f + 6, 0x0800), 1, src, icmp_len);
    copy(reply, icmp, icmp_len);
    reply[0] = 0; put16(reply + 2, 0);
    put16(reply + 2, checksum(reply, icmp_len));
    tx_post(14 + 20 + icmp_len, 1);
    pings_answered++;
}

/* A UDP datagram to the host's port 7777. With OFFLOAD (VIRTIO_NET_F_CSUM
 * negotiated) the device finishes the checksum: the header says where
 * (NEEDS_CSUM, csum_start, csum_offset) and the field holds the
 * pseudo-header's sum (§5.1.6.2); otherwise the guest computes it all. */
__attribute__((unused)) static void send_udp(void) {
    static const char text[] = "swiftvmm-udp-to-host";
    u32 udp_len = 8 + sizeof text - 1;
    u8 *f = tx_buffer();
    u8 *udp = ipv4(ethernet(f, host_mac, 0x0800), 17, HOST_IP, udp_len);
    put16(udp, 7778); put16(udp + 2, 7777); put16(udp + 4, (u16)udp_len); put16(udp + 6, 0);
    copy(udp + 8, (const u8 *)text, sizeof text - 1);
#ifdef OFFLOAD
    u8 *h = f - NET_HDR;
    h[0] = 1;                                   /* VIRTIO_NET_HDR_F_NEEDS_CSUM */
    h[6] = 14 + 20; h[7] = 0;                   /* csum_start: the UDP header (little-endian) */
    h[8] = 6; h[9] = 0;                         /* csum_offset: its checksum field */
    put16(udp + 6, sum16(0, 0, pseudo_header(GUEST_IP, HOST_IP, udp_len)));
#else
    u16 c = (u16)~sum16(udp, udp_len, pseudo_header(GUEST_IP, HOST_IP, udp_len));
    put16(udp + 6, c ? c : 0xFFFF);
#endif
    tx_post(14 + 20 + udp_len, 1);
}

static void handle(const u8 *f, u32 len) {
    if (len < 14) return;
    u16 type = get16(f + 12);
    const u8 *p = f + 14;
    if (type == 0x0806 && len >= 42) {
        u16 op = get16(p + 6);
        u32 sender = get32(p + 14), target = get32(p + 24);
        if (op == 1 && target == GUEST_IP) {
            send_arp(2, p + 8, sender);
            arp_answered++;
        } else if (op == 2 && sender == HOST_IP && target == GUEST_IP) {
            copy(host_mac, p + 8, 6);
            have_host_mac = 1;
        }
        return;
    }
    if (type != 0x0800 || len < 34 || p[0] >> 4 != 4) return;
    u32 ihl = (u32)(p[0] & 15) * 4, total = get16(p + 2);
    if (ihl < 20 || total > len - 14 || total < ihl + 8 || get32(p + 16) != GUEST_IP) return;
    const u8 *l4 = p + ihl;
    u32 l4_len = total - ihl, src = get32(p + 12);
    if (p[9] == 1 && l4[0] == 8 && l4[1] == 0) {
        answer_echo(f, l4, l4_len, src);
    } else if (p[9] == 1 && l4[0] == 0 && src == HOST_IP && get16(l4 + 4) == PING_ID) {
        pong_checksum_ok = checksum(l4, l4_len) == 0 && checksum(p, ihl) == 0 && l4_len == 64 && l4[63] == 63;
        got_pong = 1;
    }
#ifndef BENCH_MODE
    else if (p[9] == 17 && l4_len >= 8 && get16(l4 + 2) == 7778) {
        udp_flags = f[-NET_HDR];
        udp_checksum_ok = get16(l4 + 6) != 0 && sum16(l4, l4_len, pseudo_header(src, GUEST_IP, l4_len)) == 0xFFFF;
        udp_seen = 1;
    }
#endif
#if BENCH_MODE == 2
    else if (p[9] == 17) {
        u16 port = get16(l4 + 2);
        if (port == 5001) { bench_frames++; bench_bytes += len; }
        if (port == 5002) bench_end = 1;
    }
#endif
}

/* Handles every received frame, gives the buffers back, one kick. */
static void process_rx(void) {
    u8 *frame; u32 len; u16 id; int n = 0;
    while (rx_poll(&frame, &len, &id)) {
        handle(frame, len);
        rx_recycle(id);
        if (++n == QSIZE / 2) { rx_kick(); n = 0; }
    }
    if (n) rx_kick();
}

static void wait_for(volatile int *flag, u64 ticks) {
    u64 start = rdtsc();
    while (!*flag && rdtsc() - start < ticks) {
        process_rx();
        __asm__ volatile("pause");
    }
}

static void finish(void) {
    report_done("virtio-net-test");
    outb(DEBUG_EXIT_PORT, (u8)checks_failed);
    for (;;) __asm__ volatile("pause");
}

#ifdef BENCH_MODE
static void bench(void) {
#if BENCH_MODE == 1
    /* Every slot holds the same UDP frame; the loop only reposts descriptors. */
    for (u32 s = 0; s < QSIZE; s++) {
        u8 *f = (u8 *)(TX_BUFS + (u64)s * BUFSZ);
        for (int i = 0; i < NET_HDR; i++) f[i] = 0;
        u32 payload = BENCH_SIZE - 14 - 20 - 8;
        u8 *udp = ipv4(ethernet(f + NET_HDR, host_mac, 0x0800), 17, HOST_IP, 8 + payload);
        put16(udp, 5000); put16(udp + 2, 9); put16(udp + 4, (u16)(8 + payload)); put16(udp + 6, 0);
        for (u32 i = 0; i < payload; i++) udp[8 + i] = (u8)i;
    }
    puts_serial("virtio-net-bench: tx start\n");
    volatile u16 *used = (volatile u16 *)TX_USED;
    for (u32 sent = 0; sent < BENCH_COUNT;) {
        while ((u16)(tx_avail - used[1]) >= QSIZE) __asm__ volatile("pause");
        u32 room = QSIZE - (u16)(tx_avail - used[1]);
        for (u32 k = 0; k < room && sent < BENCH_COUNT; k++, sent++)
            tx_post(BENCH_SIZE, k + 1 == room || sent + 1 == BENCH_COUNT);
    }
    while (used[1] != tx_avail) __asm__ volatile("pause");
    puts_serial("virtio-net-bench: tx done ");
    put_dec(BENCH_COUNT);
    puts_serial("\n");
#else
    puts_serial("virtio-net-bench: rx ready\n");
    while (!bench_end) process_rx();
    puts_serial("virtio-net-bench: rx frames ");
    put_dec(bench_frames);
    puts_serial(" bytes ");
    put_dec(bench_bytes);
    puts_serial("\n");
#endif
    outb(DEBUG_EXIT_PORT, 0);
    for (;;) __asm__ volatile("pause");
}
#endif

void enter_user(void (*fn)(void), u64 stack);

/* Ring 3: the conversation with the host. */
static void user_main(void) {
#ifdef HOSTILE
    hostile_transmit();
#endif
    for (int tries = 0; tries < 10 && !have_host_mac; tries++) {
        send_arp(1, 0, HOST_IP);
        wait_for(&have_host_mac, SECOND / 2);
    }
    report("ARP reply from the host", have_host_mac);
    if (!have_host_mac) finish();
    puts_serial("virtio-net-test: host MAC ");
    put_mac(host_mac);
    puts_serial("\n");
#ifdef BENCH_MODE
    bench();
#else
    for (u16 seq = 1; seq <= 10 && !got_pong; seq++) {
        send_echo_request(seq);
        wait_for(&got_pong, SECOND / 2);
    }
    report("echo reply from the host", got_pong);
    report("echo reply intact (IP and ICMP checksums, payload)", pong_checksum_ok);
    send_udp();
    puts_serial("virtio-net-test: serving 10.77.0.2\n");
    u64 start = rdtsc();
    while ((pings_answered < SERVE_PINGS || !udp_seen) && rdtsc() - start < 120 * SECOND) process_rx();
    report("answered ARP from the host", arp_answered >= 1);
    report("answered 3 echo requests from the host", pings_answered >= SERVE_PINGS);
    report("UDP datagram from the host", udp_seen);
#ifdef HOSTILE
    report("receive buffer too small for the header returned empty", tiny_rx_returned);
#endif
#ifdef OFFLOAD
    /* GUEST_CSUM on: the tap took TUN_F_CSUM, so the host left the checksum to us. */
    report("host UDP left to the guest to checksum (NEEDS_CSUM)", udp_seen && (udp_flags & 1));
#else
    /* GUEST_CSUM off: the tap has no offloads, the host checksummed it. */
    report("host UDP checksummed by the host (flags 0, checksum valid)", udp_seen && udp_flags == 0 && udp_checksum_ok);
#endif
    finish();
#endif
}

void kmain(void) {
    checks_passed = checks_failed = 0;
    rx_avail = rx_used_seen = tx_avail = 0;
#ifdef HOSTILE
    tiny_rx_posted = tiny_rx_returned = 0;
#endif
    have_host_mac = got_pong = pong_checksum_ok = 0;
    arp_answered = pings_answered = 0;
    puts_serial("virtio-net-test: start\n");
    map_mmio();
    int slot = find_virtio(0x1041, 0x1000);
    report("found virtio-net on PCI", slot >= 0);
    if (slot < 0) finish();
    assign_bars(slot);
    report("virtio capabilities", find_caps(slot));
    if (checks_failed) finish();

    MMIO8(common + 0x14) = 0;                 /* reset */
    MMIO8(common + 0x14) = 1 | 2;             /* ACKNOWLEDGE | DRIVER */
    MMIO32(common + 0x00) = 0;
    u32 lo = MMIO32(common + 0x04);
    MMIO32(common + 0x00) = 1;
    u32 hi = MMIO32(common + 0x04);
    u32 want = F_MAC | (lo & F_STATUS);
#ifdef OFFLOAD
    want |= lo & (F_CSUM | F_GUEST_CSUM);
#endif
    MMIO32(common + 0x08) = 0; MMIO32(common + 0x0C) = want;
    MMIO32(common + 0x08) = 1; MMIO32(common + 0x0C) = 1;   /* VERSION_1 */
    MMIO8(common + 0x14) = 1 | 2 | 8;
    report("features negotiated (VERSION_1, MAC)", (hi & 1) && (lo & F_MAC) && (MMIO8(common + 0x14) & 8));
#ifdef OFFLOAD
    report("checksum offloads offered (CSUM, GUEST_CSUM)", (lo & (F_CSUM | F_GUEST_CSUM)) == (F_CSUM | F_GUEST_CSUM));
#endif
    if (checks_failed) finish();

    for (u64 a = RX_DESC; a < TX_USED + 0x1000; a += 8) *(volatile u64 *)a = 0;
    queue_setup(0, RX_DESC, RX_AVAIL, RX_USED, &rx_notify);
    queue_setup(1, TX_DESC, TX_AVAIL, TX_USED, &tx_notify);
    volatile u64 *desc = (volatile u64 *)RX_DESC;
    for (u16 i = 0; i < QSIZE; i++) {
        desc[2 * i] = RX_BUFS + (u64)i * BUFSZ;
        desc[2 * i + 1] = BUFSZ | (u64)2 << 32;   /* WRITE */
        rx_recycle(i);
    }
#ifdef HOSTILE
    desc[1] = 8 | (u64)2 << 32;
    tiny_rx_posted = 1;
#endif
    MMIO8(common + 0x14) = 1 | 2 | 8 | 4;     /* DRIVER_OK */
    report("DRIVER_OK", (MMIO8(common + 0x14) & 0x44) == 4);

    for (int i = 0; i < 6; i++) my_mac[i] = MMIO8(device_cfg + i);
    puts_serial("virtio-net-test: mac ");
    put_mac(my_mac);
    puts_serial("\n");
    static const u8 zero[6] = {0, 0, 0, 0, 0, 0};
    report("MAC from configuration space (unicast)", !same(my_mac, zero, 6) && !(my_mac[0] & 1));
    if (want & F_STATUS) report("link up", MMIO16(device_cfg + 6) & 1);
    if (checks_failed) finish();
    rx_kick();
    enter_user(user_main, 0x80000);
}
