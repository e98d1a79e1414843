/* The cost of waking an idle process on this machine, the floor under the broker's latency at
 * low rates (a message crosses client -> router -> worker -> router -> client: four wake-ups).
 * Two processes bounce one byte over Unix socket pairs, 2 ms apart, so the other side is
 * asleep each time; prints the round trip's p50 and p99 (two wake-ups).
 *
 *   gcc -O2 -o /tmp/wakeup_pingpong Tests/Load/wakeup_pingpong.c && /tmp/wakeup_pingpong
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(void) {
    int there[2], back[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, there) || socketpair(AF_UNIX, SOCK_STREAM, 0, back)) return 1;
    char byte = 'x';
    if (fork() == 0) {
        while (read(there[1], &byte, 1) == 1) write(back[1], &byte, 1);
        return 0;
    }
    enum { N = 2000 };
    static double us[N];
    for (int i = 0; i < N; i++) {
        struct timespec t0, t1;
        usleep(2000);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        write(there[0], &byte, 1);
        read(back[0], &byte, 1);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        us[i] = (t1.tv_sec - t0.tv_sec) * 1e6 + (t1.tv_nsec - t0.tv_nsec) / 1e3;
    }
    qsort(us, N, sizeof us[0], compare);
    printf("round trip (two wake-ups): p50 %.1f us, p99 %.1f us\n", us[N / 2], us[N * 99 / 100]);
    close(there[0]);
    return 0;
}
