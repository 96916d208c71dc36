/**
 * A peer in its own process, for the comm tests: serves a few RPC operations on 127.0.0.1 and
 * prints its URL as the first line of stdout. `shutdown` closes the server; the process then
 * exits with nothing left to do.
 *
 * Run: deno run --allow-net=127.0.0.1 tests/comm/_rpc_peer_process.ts
 */
import { RpcServer } from "../../src/comm/mod.ts";

const server = await RpcServer.listen({
  handlers: {
    pid: () => Deno.pid,
    sum: (body) => {
      let total = 0;
      for (const x of body as Float64Array) total += x;
      return total;
    },
    scale: (body) => {
      const { xs, k } = body as { xs: Float64Array; k: number };
      return xs.map((x) => x * k);
    },
    fail: () => {
      throw new RangeError("asked to fail");
    },
    shutdown: () => {
      // Reply first; close once the reply is out.
      setTimeout(() => server.close(), 10);
      return "bye";
    },
  },
  log: (line) => console.error(line),
});
console.log(server.url);
