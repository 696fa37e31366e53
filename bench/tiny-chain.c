/* tiny-chain - the floor of bench/run's section 1b: the least any program
   chained in front of a checkpassword must do, with nothing of its own. It
   reads fd 3 to the end (at most 512 bytes, as the convention allows),
   hands the bytes on through a pipe that becomes the next program's fd 3,
   vfork+execs the rest of its arguments, waits, and exits with their code.
   Built static by bench/run (as bench/tiny-static is); authguard-checkpw's
   cost minus this one's is what the guard itself adds. */
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char** argv) {
    char bytes[513];
    int fds[2], status;
    ssize_t got = 0, n;
    pid_t child;

    if (argc < 2) return 2;
    while (got < (ssize_t)sizeof bytes && (n = read(3, bytes + got, sizeof bytes - got)) > 0)
        got += n;
    if (pipe(fds) != 0 || write(fds[1], bytes, got) != got) return 111;
    close(fds[1]);
    child = vfork();
    if (child < 0) return 111;
    if (child == 0) {
        if (dup2(fds[0], 3) < 0) _exit(111);
        execv(argv[1], argv + 1);
        _exit(111);
    }
    close(fds[0]);
    if (waitpid(child, &status, 0) < 0) return 111;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 111;
}
