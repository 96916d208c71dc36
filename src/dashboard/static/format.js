// Helpers of the dashboard page shared by its panels: number formatting,
// colours, SVG elements. Plain browser JavaScript (an ES module, no build
// step); the pure functions are also imported by the tests.

/** The SVG namespace. */
const SVG_NS = "http://www.w3.org/2000/svg";

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/**
 * Bytes as a short human figure: `formatBytes(3 * 2 ** 20)` is `"3.0 MiB"`.
 *
 * @example
 * ```ts
 * import { formatBytes } from "./format.js";
 * const label: string = formatBytes(3 * 2 ** 20); // "3.0 MiB"
 * ```
 *
 * @param {number} bytes
 * @returns {string}
 */
export function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return "–";
  const sign = bytes < 0 ? "−" : "";
  let n = Math.abs(bytes);
  let unit = 0;
  while (n >= 1024 && unit < UNITS.length - 1) {
    n /= 1024;
    unit++;
  }
  return `${sign}${unit === 0 ? n.toFixed(0) : n.toFixed(1)} ${UNITS[unit]}`;
}

/**
 * Milliseconds as a short figure: `"850 µs"`, `"12 ms"`, `"1.25 s"`.
 *
 * @example
 * ```ts
 * import { formatMs } from "./format.js";
 * const label: string = formatMs(1250); // "1.25 s"
 * ```
 *
 * @param {number} ms
 * @returns {string}
 */
export function formatMs(ms) {
  if (!Number.isFinite(ms)) return "–";
  if (ms < 1) return `${(ms * 1000).toFixed(0)} µs`;
  if (ms < 1000) return `${ms < 10 ? ms.toFixed(1) : ms.toFixed(0)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

/**
 * A count with thousands separated: `formatCount(12345)` is `"12,345"`.
 *
 * @example
 * ```ts
 * import { formatCount } from "./format.js";
 * const label: string = formatCount(12345); // "12,345"
 * ```
 *
 * @param {number} n
 * @returns {string}
 */
export function formatCount(n) {
  return Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "–";
}

/**
 * A stable hue (0–359) for a name: the same function always gets the same
 * colour, on every page load and in every browser (FNV-1a of its UTF-16
 * code units).
 *
 * @example
 * ```ts
 * import { hueOf } from "./format.js";
 * const hue: number = hueOf("dot"); // the same on every load
 * ```
 *
 * @param {string} name
 * @returns {number}
 */
export function hueOf(name) {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // Mix the bits (murmur3's finalizer) so that similar names differ.
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return ((h ^ (h >>> 16)) >>> 0) % 360;
}

/**
 * The colour of a function's compute rectangles and progress bar.
 *
 * @example
 * ```ts
 * import { functionColour } from "./format.js";
 * const fill: string = functionColour("dot"); // "hsl(…, 62%, 48%)"
 * ```
 *
 * @param {string} name
 * @param {number} [lightness] percent, default 48
 * @returns {string}
 */
export function functionColour(name, lightness = 48) {
  return `hsl(${hueOf(name)}, 62%, ${lightness}%)`;
}

/**
 * A worker's address shortened for a label: `tcp://127.0.0.1:4321` →
 * `127.0.0.1:4321`.
 *
 * @example
 * ```ts
 * import { shortAddress } from "./format.js";
 * const label: string = shortAddress("tcp://127.0.0.1:4321"); // "127.0.0.1:4321"
 * ```
 *
 * @param {string} address
 * @returns {string}
 */
export function shortAddress(address) {
  return address.replace(/^[a-z]+:\/\//, "");
}

/**
 * The host part of an address: `tcp://127.0.0.1:4321` → `127.0.0.1`.
 *
 * @example
 * ```ts
 * import { hostOf } from "./format.js";
 * const host: string = hostOf("tcp://127.0.0.1:4321"); // "127.0.0.1"
 * ```
 *
 * @param {string} address
 * @returns {string}
 */
export function hostOf(address) {
  const rest = shortAddress(address);
  const colon = rest.lastIndexOf(":");
  return colon < 0 ? rest : rest.slice(0, colon);
}

/**
 * A new SVG element with attributes; `text` becomes its text content.
 *
 * @example
 * ```ts
 * import { svg } from "./format.js";
 * // In the page:
 * const bar = () => svg("rect", { x: 0, y: 0, width: 40, height: 16, class: "segment live" });
 * ```
 *
 * @param {string} tag
 * @param {Record<string, string | number>} [attributes]
 * @param {string} [text]
 * @returns {SVGElement}
 */
export function svg(tag, attributes = {}, text) {
  const element = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) {
    element.setAttribute(name, String(value));
  }
  if (text !== undefined) element.textContent = text;
  return element;
}

/**
 * Adds a hover title (the browser's tooltip) to an SVG element.
 *
 * @example
 * ```ts
 * import { svg, titled } from "./format.js";
 * // In the page:
 * const bar = () => titled(svg("rect", { width: 40, height: 16 }), "live: 40 MiB");
 * ```
 *
 * @param {SVGElement} element
 * @param {string} text
 * @returns {SVGElement} the element
 */
export function titled(element, text) {
  const title = document.createElementNS(SVG_NS, "title");
  title.textContent = text;
  element.appendChild(title);
  return element;
}

/**
 * A new HTML element with attributes and children (strings become text).
 *
 * @example
 * ```ts
 * import { html } from "./format.js";
 * // In the page:
 * const cell = () => html("td", { class: "num" }, ["12 ms"]);
 * ```
 *
 * @param {string} tag
 * @param {Record<string, string>} [attributes]
 * @param {(Node | string)[]} [children]
 * @returns {HTMLElement}
 */
export function html(tag, attributes = {}, children = []) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    element.setAttribute(name, value);
  }
  for (const child of children) {
    element.append(typeof child === "string" ? child : child);
  }
  return element;
}
