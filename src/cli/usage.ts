/**
 * The usage of `spillway` itself: every command in a line or two, and the
 * demos' options (`spillway demo --help` prints this too). Each command's
 * own usage is in its module.
 *
 * @module
 */

/** `spillway --help`. */
export const USAGE: string = `usage: spillway <command> [options]

commands:
  scheduler  run a scheduler: spillway scheduler [--host 127.0.0.1] [--port 8786]
  worker     run a worker (under a nanny): spillway worker <scheduler-address> [options]
  local      run a scheduler and workers on this machine: spillway local [options]
  shm-setup  print the commands that mount a tmpfs for shared-memory mode:
             spillway shm-setup --size <size> [--dir /mnt/spillway] [--swap <size>]
  demo       all pairs on a local cluster: a dot product for every pair of N chunks, with a
             memory limit that makes the workers spill; prints progress and a table
             --chunks <n>           chunks (default 16)
             --chunk <size>         bytes per chunk (default 64MiB)
             --workers <n>          worker processes (default 2)
             --memory-limit <size>  per worker (default 1GiB; at least 112 MiB)
             --spill-dir <path>     root of the spill directories (default: a new temp dir)
             --shared-memory        shared-memory mode (--spill-dir on a tmpfs; target 0)
             --target <fraction>    of the limit kept in memory before spilling (default 0.6)
             --log-level <level>    the cluster's: debug, info, warn, error (default info)
             --log-format <format>  the cluster's log lines: text or json (default text)
             --auth-token <token>   the cluster's auth token (also --auth-token-file,
                                    SPILLWAY_AUTH_TOKEN; default none on loopback)
             --tls-cert, --tls-key, --tls-ca <file>
                                    TLS on every connection with these PEM files;
                                    with the CA, mutual TLS (see spillway local -h)
  store-demo store a data set larger than the memory target, read it back, print the store's metrics
             --data <size>      bytes of data in all (default 1GiB)
             --chunk <size>     bytes per chunk (default 32MiB)
             --memory <size>    the store's memory target (default 256MiB)
             --dir <path>       where the spill directory goes (default: a new temp dir)

sizes: 4GiB, 512MiB, 2e9, 1.5GB
"spillway <command> --help" describes a command's options.
`;
