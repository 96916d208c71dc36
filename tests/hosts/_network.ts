/**
 * Simulated hosts for the multi-host tests: network namespaces joined by a
 * bridge in the root namespace (which gets an address too, for the
 * client), each with its own address; and processes run inside them with
 * `ip netns exec`. Root only: `networkUnavailable` says why not.
 */

/** Why namespaces cannot be made here, or null when they can. */
export const networkUnavailable: string | null = await probe();

if (networkUnavailable !== null) {
  console.warn(
    `[tests] skipping the multi-host (network namespace) tests: ${networkUnavailable}`,
  );
}

async function probe(): Promise<string | null> {
  if (Deno.build.os !== "linux") return "network namespaces need Linux";
  if (Deno.uid() !== 0) {
    return "network namespaces, veth pairs and tmpfs mounts need root (run the tests as root to include them)";
  }
  try {
    await run(["ip", "-V"]);
  } catch (error) {
    return `no usable \`ip\` command: ${(error as Error).message}`;
  }
  return null;
}

/** Runs a command; throws with its stderr when it fails. */
export async function run(args: string[]): Promise<string> {
  const out = await new Deno.Command(args[0], {
    args: args.slice(1),
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `${args.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
  return new TextDecoder().decode(out.stdout);
}

/** One simulated host. */
export interface Namespace {
  /** The namespace's name (for `ip netns exec`). */
  name: string;
  /** Its address on the bridge. */
  address: string;
  /** The root-namespace end of its veth pair (bring it down to cut the link). */
  veth: string;
}

/** Namespaces on a bridge; disposing it removes them all. */
export interface Network extends AsyncDisposable {
  /** The root namespace's address on the bridge (where the client runs). */
  address: string;
  namespaces: Namespace[];
  /** Brings a namespace's link down (`up: false`) or back up. */
  link(ns: Namespace, up: boolean): Promise<void>;
}

/**
 * Makes `count` namespaces on a fresh bridge, with unique names for this
 * run; everything made is removed on dispose, or at once when a step fails.
 */
export async function makeNetwork(count: number): Promise<Network> {
  const id = crypto.randomUUID().slice(0, 5);
  const subnet = `10.77.${1 + Math.floor(Math.random() * 250)}`;
  const bridge = `swbr${id}`;
  const namespaces: Namespace[] = [];
  const undo: string[][] = [];
  const teardown = async () => {
    for (const args of undo.reverse()) {
      try {
        await run(args);
      } catch {
        // Already gone with its namespace.
      }
    }
    undo.length = 0;
  };
  try {
    await run(["ip", "link", "add", bridge, "type", "bridge"]);
    undo.push(["ip", "link", "del", bridge]);
    await run(["ip", "addr", "add", `${subnet}.254/24`, "dev", bridge]);
    await run(["ip", "link", "set", bridge, "up"]);
    for (let i = 0; i < count; i++) {
      const name = `spillway-${id}-${i}`;
      const veth = `swv${id}${i}`;
      const peer = `swp${id}${i}`;
      await run(["ip", "netns", "add", name]);
      undo.push(["ip", "netns", "del", name]);
      await run(["ip", "link", "add", veth, "type", "veth", "peer", peer]);
      undo.push(["ip", "link", "del", veth]);
      await run(["ip", "link", "set", peer, "netns", name]);
      await run(["ip", "link", "set", veth, "master", bridge]);
      await run(["ip", "link", "set", veth, "up"]);
      const address = `${subnet}.${i + 1}`;
      await run([
        "ip",
        "-n",
        name,
        "addr",
        "add",
        `${address}/24`,
        "dev",
        peer,
      ]);
      await run(["ip", "-n", name, "link", "set", peer, "up"]);
      await run(["ip", "-n", name, "link", "set", "lo", "up"]);
      namespaces.push({ name, address, veth });
    }
  } catch (error) {
    await teardown();
    throw error;
  }
  return {
    address: `${subnet}.254`,
    namespaces,
    link: async (ns, up) => {
      await run(["ip", "link", "set", ns.veth, up ? "up" : "down"]);
    },
    [Symbol.asyncDispose]: teardown,
  };
}

/** A `deno run -A cli.ts …` process inside a namespace, its output read line by line. */
export class NsProcess implements AsyncDisposable {
  readonly process: Deno.ChildProcess;
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  readonly #pumps: Promise<void>[];

  constructor(ns: Namespace, cli: string, args: string[], token: string) {
    this.process = new Deno.Command("ip", {
      args: [
        "netns",
        "exec",
        ns.name,
        Deno.execPath(),
        "run",
        "-A",
        "--no-prompt",
        cli,
        ...args,
      ],
      env: { SPILLWAY_AUTH_TOKEN: token },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const pump = async (stream: ReadableStream<Uint8Array>, into: string[]) => {
      let rest = "";
      for await (const text of stream.pipeThrough(new TextDecoderStream())) {
        rest += text;
        const parts = rest.split("\n");
        rest = parts.pop()!;
        into.push(...parts);
      }
      if (rest !== "") into.push(rest);
    };
    this.#pumps = [
      pump(this.process.stdout, this.stdout),
      pump(this.process.stderr, this.stderr),
    ];
  }

  /** Waits (up to `timeout` ms) for a stdout line matching `pattern`. */
  async line(pattern: RegExp, timeout = 30_000): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeout;
    let exited = false;
    this.process.status.then(() => exited = true);
    for (;;) {
      for (const line of this.stdout) {
        const match = pattern.exec(line);
        if (match) return match;
      }
      if (exited || Date.now() > deadline) {
        throw new Error(
          `no line matching ${pattern} (${
            exited ? "exited" : "timed out"
          }); stdout:\n${this.stdout.join("\n")}\nstderr:\n${
            this.stderr.join("\n")
          }`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGTERM (`ip netns exec` runs the command in its own process), SIGKILL after 5 s. */
  async [Symbol.asyncDispose](): Promise<void> {
    const timer = setTimeout(() => {
      try {
        this.process.kill("SIGKILL");
      } catch {
        // Gone.
      }
    }, 5000);
    try {
      this.process.kill("SIGTERM");
    } catch {
      // Gone.
    }
    await this.process.status;
    clearTimeout(timer);
    await Promise.all(this.#pumps);
  }
}
