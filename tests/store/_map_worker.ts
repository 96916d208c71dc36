/**
 * A Web Worker for mapping_test.ts: maps the file it is sent, sums it,
 * writes into it (copy-on-write), drops it and lets its own finalizer
 * release the mapping before answering.
 */
import { deserialize } from "../../src/serialize/serialize.ts";
import {
  collectMappings,
  isMappedBuffer,
  mapFrames,
  mappingStats,
} from "../../src/store/mapping.ts";

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<{ path: string }>) => void) | null;
  postMessage(message: unknown): void;
};

function inspect(path: string) {
  const values = deserialize(mapFrames(path)) as Float64Array;
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i];
  values[0] = -5;
  return {
    length: values.length,
    sum,
    mapped: isMappedBuffer(values.buffer),
    afterWrite: values[0],
  };
}

scope.onmessage = async (event) => {
  try {
    const summary = inspect(event.data.path);
    const during = mappingStats();
    const after = await collectMappings(50);
    scope.postMessage({ ...summary, during, after });
  } catch (error) {
    scope.postMessage({ error: String(error) });
  }
};
