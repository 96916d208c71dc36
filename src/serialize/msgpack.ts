/**
 * The msgpack library, by its full `npm:` specifier rather than the import
 * map's bare name: a program that imports spillway's `mod.ts` by path, by
 * `file:` URL or over `http:` has no import map of spillway's, and must
 * still resolve it. The version is pinned to the one `deno.lock` holds (and
 * `deno.json`'s import map names, for the tests).
 *
 * @module
 */
export * from "npm:@msgpack/msgpack@3.1.3";
