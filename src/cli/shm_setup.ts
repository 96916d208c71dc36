/**
 * `spillway shm-setup`: prints the commands that mount a tmpfs for
 * shared-memory mode (nothing is run).
 *
 * @module
 */
import { resolve } from "node:path";
import { tmpfsSetupCommands } from "../store/tmpfs.ts";
import { integer, parseFlags, size, UsageError } from "./args.ts";

/** Usage of `spillway shm-setup`. */
export const SHM_SETUP_USAGE: string =
  `usage: spillway shm-setup --size <size> [options]

Prints the shell commands (to run as root) that mount a tmpfs of <size> for
shared-memory mode (\`spillway worker --shared-memory --spill-dir <dir>\`).
Nothing is run. Make it at least the workers' combined memory limit; with
--swap, a swap file behind it lets spilled data outgrow RAM.

options:
  --size <size>     size of the tmpfs, e.g. 64GiB (required)
  --dir <dir>       where to mount it (default /mnt/spillway; not under /dev,
                    where Deno refuses scoped permissions)
  --swap <size>     also make and enable a swap file of this size
  --swap-file <f>   the swap file, on a disk (default /var/spillway.swap)
  --uid <uid>       owner of the mount (the workers' user)
  -h, --help        this text
`;

/**
 * `spillway shm-setup`: prints the commands that mount a tmpfs for
 * shared-memory mode.
 *
 * @param args The arguments after the command name.
 * @returns The exit status.
 */
export function shmSetupCommand(args: string[]): Promise<number> {
  const parsed = parseFlags(
    args,
    {
      size: { type: "string" },
      dir: { type: "string" },
      swap: { type: "string" },
      "swap-file": { type: "string" },
      uid: { type: "string" },
    },
    SHM_SETUP_USAGE,
  );
  if (parsed === null) return Promise.resolve(0);
  const v = parsed.values;
  if (v.size === undefined) {
    throw new UsageError("--size is required", SHM_SETUP_USAGE);
  }
  const commands = tmpfsSetupCommands(
    resolve((v.dir as string | undefined) ?? "/mnt/spillway"),
    size("size", v.size as string, SHM_SETUP_USAGE),
    {
      ...(v.swap !== undefined
        ? { swapBytes: size("swap", v.swap as string, SHM_SETUP_USAGE) }
        : {}),
      ...(v["swap-file"] !== undefined
        ? { swapFile: v["swap-file"] as string }
        : {}),
      ...(v.uid !== undefined
        ? {
          uid: integer("uid", v.uid as string, 0, 2 ** 31, SHM_SETUP_USAGE),
        }
        : {}),
    },
  );
  console.log(commands.join("\n"));
  return Promise.resolve(0);
}
