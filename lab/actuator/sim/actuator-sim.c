/*
 * The actuator board, emulated: runs the reference firmware's ELF on simavr's ATmega2560,
 * bridges its UART0 to a pseudo-terminal (the board's USB serial port), and records every
 * change of an output pin that drives a key, with its simulated time.
 *
 *   actuator-sim [--speed realtime|fast] FIRMWARE.elf PORT_LINK PINS_LOG
 *
 * PORT_LINK becomes a symlink to the pseudo-terminal (open it as the board's serial port,
 * 115200 8N1; the baud rate is not enforced). PINS_LOG gets one line per event, written as
 * it happens:
 *
 *   <sim time in us> pin <Mega pin number> <1 driven high | 0 not>
 *   <sim time in us> reset
 *
 * A pin counts as driven high only while it is an output set HIGH (DDR and PORT bits), as
 * an optocoupler's LED or a MOSFET's gate sees it; a reset turns every pin into an input.
 *
 * --speed realtime (the default) keeps simulated time from running ahead of wall-clock time,
 * so a host's timeouts mean what they mean on a rack; --speed fast runs as fast as the
 * machine allows (the firmware sleeps between timer ticks, so idle time costs little).
 *
 * SIGTERM or SIGINT: stop (the link is removed). SIGUSR1: reset the board, as a press of its
 * reset button or the DTR pulse of a host opening its USB port would.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <simavr/avr_ioport.h>
#include <simavr/avr_uart.h>
#include <simavr/sim_avr.h>
#include <simavr/sim_elf.h>
#include <simavr/sim_irq.h>

#define MCU "atmega2560"
#define CPU_HZ 16000000UL
/* One byte on the wire at 115200 baud, 8N1 (10 bits): 1388 cycles. */
#define BYTE_CYCLES (CPU_HZ * 10 / 115200)

/* The Arduino Mega 2560's digital pins 0-69 as port letter and bit (its variant's
 * pins_arduino.h), so the log speaks the pin numbers of lab/actuator/WIRING.md. */
static const char PIN_PORT[] = "EEEEGEHHHHBBBBJJHHDDDDAAAAAAAACCCCCCCCDGGGLLLLLLLLBBBBFFFFFFFFKKKKKKKK";
static const uint8_t PIN_BIT[] = {0, 1, 4, 5, 5, 3, 3, 4, 5, 6, 4, 5, 6, 7, 1, 0, 1, 0,
                                  3, 2, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 7, 6, 5, 4, 3, 2,
                                  1, 0, 7, 2, 1, 0, 7, 6, 5, 4, 3, 2, 1, 0, 3, 2, 1, 0,
                                  0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7};
#define PIN_COUNT ((int)sizeof(PIN_BIT))
static const char PORTS[] = "ABCDEFGHJKL";
#define PORT_COUNT ((int)sizeof(PORTS) - 1)

static volatile sig_atomic_t stop_requested = 0;
static volatile sig_atomic_t reset_requested = 0;

static avr_t *avr;
static FILE *pins_log;
static uint8_t driven[PORT_COUNT]; /* last logged DDR & PORT, per port */

/* The host side of the serial port. */
static int master = -1;
static uint8_t to_host[4096];
static size_t to_host_len = 0;
static uint8_t from_host[4096];
static size_t from_host_len = 0, from_host_done = 0;
static int uart_full = 0;
static avr_cycle_count_t next_rx_cycle = 0;
static unsigned long dropped_to_absent_host = 0;

static void on_stop(int sig) { (void)sig; stop_requested = 1; }
static void on_reset(int sig) { (void)sig; reset_requested = 1; }

static unsigned long long sim_us(void) { return avr->cycle * 1000000ULL / avr->frequency; }

static void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_line(const char *fmt, ...) {
    va_list args;
    fprintf(pins_log, "%llu ", sim_us());
    va_start(args, fmt);
    vfprintf(pins_log, fmt, args);
    va_end(args);
    fputc('\n', pins_log);
    fflush(pins_log);
}

/* Compares one port's driven bits with the last logged ones and logs each change. */
static void check_port(int index) {
    avr_ioport_state_t state;
    if (avr_ioctl(avr, AVR_IOCTL_IOPORT_GETSTATE(PORTS[index]), &state) != 0) return;
    uint8_t now = state.port & state.ddr;
    uint8_t changed = now ^ driven[index];
    if (!changed) return;
    for (int pin = 0; pin < PIN_COUNT; pin++) {
        if (PIN_PORT[pin] == PORTS[index] && (changed & (1 << PIN_BIT[pin]))) {
            log_line("pin %d %d", pin, (now >> PIN_BIT[pin]) & 1);
        }
    }
    driven[index] = now;
}

static void port_hook(struct avr_irq_t *irq, uint32_t value, void *param) {
    (void)irq;
    (void)value;
    check_port((int)(intptr_t)param);
}

static void uart_out_hook(struct avr_irq_t *irq, uint32_t value, void *param) {
    (void)irq;
    (void)param;
    if (to_host_len < sizeof(to_host)) to_host[to_host_len++] = (uint8_t)value;
}

static void uart_xon_hook(struct avr_irq_t *irq, uint32_t value, void *param) {
    (void)irq;
    (void)param;
    if (value) uart_full = 0;
}

static void uart_xoff_hook(struct avr_irq_t *irq, uint32_t value, void *param) {
    (void)irq;
    (void)param;
    uart_full = value != 0;
}

/* Time is paced by the main loop; the AVR's sleep only skips to its next timer event. */
static void sleep_skips(avr_t *core, avr_cycle_count_t how_long) {
    (void)core;
    (void)how_long;
}

static int open_pty(const char *link) {
    master = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) {
        perror("actuator-sim: pseudo-terminal");
        return -1;
    }
    /* Raw, as a USB serial port is: no echo, no line editing, no newline translation. The
     * settings belong to the terminal, so every host that opens it starts from them. */
    struct termios tio;
    if (tcgetattr(master, &tio) == 0) {
        cfmakeraw(&tio);
        cfsetspeed(&tio, B115200);
        tcsetattr(master, TCSANOW, &tio);
    }
    const char *slave = ptsname(master);
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.new", link) >= (int)sizeof(tmp)) {
        fprintf(stderr, "actuator-sim: link path too long\n");
        return -1;
    }
    unlink(tmp);
    if (symlink(slave, tmp) != 0 || rename(tmp, link) != 0) {
        fprintf(stderr, "actuator-sim: cannot link %s to %s: %s\n", link, slave, strerror(errno));
        return -1;
    }
    printf("actuator-sim: serial port %s, linked at %s\n", slave, link);
    fflush(stdout);
    return 0;
}

/* Moves bytes between the pseudo-terminal and the UART. While no host has the port open,
 * what the board sends is lost, as it is on a USB serial port nobody opened. */
static void service_host(void) {
    if (from_host_done == from_host_len) {
        ssize_t n = read(master, from_host, sizeof(from_host));
        from_host_done = 0;
        from_host_len = n > 0 ? (size_t)n : 0;
        if (n < 0 && errno == EIO && to_host_len > 0) {
            dropped_to_absent_host += to_host_len;
            to_host_len = 0;
        }
    }
    /* Bytes reach the UART at the wire's pace, as from a USB serial chip: a host that sends
     * faster than the firmware reads loses bytes in the firmware, as on a board. (simavr's
     * UART would otherwise take 64 at once and hold the rest back by flow control, which no
     * wire does.) */
    avr_irq_t *rx = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
    if (next_rx_cycle + BYTE_CYCLES < avr->cycle) next_rx_cycle = avr->cycle; /* line idle */
    while (from_host_done < from_host_len && next_rx_cycle <= avr->cycle && !uart_full) {
        avr_raise_irq(rx, from_host[from_host_done++]);
        next_rx_cycle += BYTE_CYCLES;
    }
    if (to_host_len > 0) {
        ssize_t n = write(master, to_host, to_host_len);
        if (n > 0) {
            memmove(to_host, to_host + n, to_host_len - (size_t)n);
            to_host_len -= (size_t)n;
        }
    }
}

static unsigned long long wall_us(const struct timespec *start) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (unsigned long long)(now.tv_sec - start->tv_sec) * 1000000ULL +
           (unsigned long long)((now.tv_nsec - start->tv_nsec) / 1000);
}

static void reset_board(void) {
    avr_reset(avr);
    log_line("reset");
    for (int i = 0; i < PORT_COUNT; i++) check_port(i);
    uart_full = 0;
    next_rx_cycle = avr->cycle;
}

static void usage(void) {
    fprintf(stderr, "usage: actuator-sim [--speed realtime|fast] FIRMWARE.elf PORT_LINK PINS_LOG\n");
}

int main(int argc, char **argv) {
    int realtime = 1;
    static const struct option options[] = {{"speed", required_argument, NULL, 's'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    for (int opt; (opt = getopt_long(argc, argv, "s:h", options, NULL)) != -1;) {
        if (opt == 's' && strcmp(optarg, "realtime") == 0) {
            realtime = 1;
        } else if (opt == 's' && strcmp(optarg, "fast") == 0) {
            realtime = 0;
        } else {
            usage();
            return 2;
        }
    }
    if (argc - optind != 3) {
        usage();
        return 2;
    }
    const char *elf = argv[optind], *link = argv[optind + 1], *log_path = argv[optind + 2];

    elf_firmware_t firmware;
    memset(&firmware, 0, sizeof(firmware));
    if (elf_read_firmware(elf, &firmware) != 0) {
        fprintf(stderr, "actuator-sim: cannot read firmware %s\n", elf);
        return 1;
    }
    avr = avr_make_mcu_by_name(MCU);
    if (!avr) {
        fprintf(stderr, "actuator-sim: simavr has no %s\n", MCU);
        return 1;
    }
    avr_init(avr);
    avr_load_firmware(avr, &firmware);
    avr->frequency = CPU_HZ;
    avr->sleep = sleep_skips;
    avr->log = LOG_WARNING;

    pins_log = fopen(log_path, "w");
    if (!pins_log) {
        fprintf(stderr, "actuator-sim: cannot write %s: %s\n", log_path, strerror(errno));
        return 1;
    }

    /* UART0 talks to the pseudo-terminal only: no console echo, no spin-loop sleeps. */
    uint32_t flags = 0;
    avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT),
                            uart_out_hook, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON),
                            uart_xon_hook, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF),
                            uart_xoff_hook, NULL);
    for (int i = 0; i < PORT_COUNT; i++) {
        avr_irq_t *pins = avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ(PORTS[i]), IOPORT_IRQ_PIN_ALL);
        avr_irq_t *ddr =
            avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ(PORTS[i]), IOPORT_IRQ_DIRECTION_ALL);
        if (pins) avr_irq_register_notify(pins, port_hook, (void *)(intptr_t)i);
        if (ddr) avr_irq_register_notify(ddr, port_hook, (void *)(intptr_t)i);
    }

    if (open_pty(link) != 0) return 1;

    struct sigaction stop = {.sa_handler = on_stop}, reset = {.sa_handler = on_reset};
    sigaction(SIGTERM, &stop, NULL);
    sigaction(SIGINT, &stop, NULL);
    sigaction(SIGUSR1, &reset, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    const avr_cycle_count_t slice = CPU_HZ / 2000; /* 0.5 ms of simulated time */
    int state = cpu_Running;
    while (!stop_requested && state != cpu_Done && state != cpu_Crashed) {
        avr_cycle_count_t until = avr->cycle + slice;
        while (avr->cycle < until && state != cpu_Done && state != cpu_Crashed) {
            state = avr_run(avr);
        }
        service_host();
        if (reset_requested) {
            reset_requested = 0;
            reset_board();
        }
        if (realtime) {
            unsigned long long sim = sim_us(), wall = wall_us(&start);
            if (sim > wall + 200) {
                struct timespec pause = {.tv_sec = (time_t)((sim - wall) / 1000000ULL),
                                         .tv_nsec = (long)((sim - wall) % 1000000ULL) * 1000L};
                nanosleep(&pause, NULL);
            }
        }
    }
    unsigned long long wall = wall_us(&start), sim = sim_us();
    fprintf(stderr,
            "actuator-sim: stopped after %llu us simulated in %llu us (%.2fx real time)%s%s\n",
            sim, wall, wall ? (double)sim / (double)wall : 0.0,
            state == cpu_Crashed ? ", the firmware crashed" : "",
            state == cpu_Done ? ", the firmware stopped" : "");
    if (dropped_to_absent_host) {
        fprintf(stderr, "actuator-sim: %lu bytes sent while no host had the port open\n",
                dropped_to_absent_host);
    }
    fclose(pins_log);
    unlink(link);
    return state == cpu_Crashed ? 1 : 0;
}
