// A full npm: specifier below, not the import map's name: a program that
// imports mod.ts from elsewhere has no import map of ours (README,
// "Importing Spillway").
// deno-lint-ignore-file no-import-prefix
/**
 * A throwaway certificate authority for a test cluster
 * (`LocalCluster.start({ tls: true })`): a CA, one certificate for the
 * cluster's processes (a server for `127.0.0.1`, `localhost` and `::1`,
 * and a client to one another), and one client certificate for the user's
 * `Client`, written as PEM files (keys mode 0600) in a directory.
 *
 * Keys are RSA 2048, made by Web Crypto (native, fast); the certificates
 * are built and signed by `node-forge` (pure JavaScript, no dependencies).
 *
 * @module
 */
// @ts-types="npm:@types/node-forge@1.3.14"
import forge from "npm:node-forge@1.4.3";
import { join } from "node:path";
import type { TlsFiles, TlsOptions } from "../comm/tls.ts";

/**
 * The files and PEM text of a test CA: `node` serves (and connects as) the
 * cluster's processes, `client` is for the user's client.
 *
 * @example
 * ```ts
 * import { makeTestCertificates } from "./certs.ts";
 * const dir = await Deno.makeTempDir();
 * const certs = await makeTestCertificates(dir);
 * console.log(certs.client.ca === certs.node.ca); // true: one CA
 * ```
 */
export interface TestCertificates {
  /** Paths of the CA, the node certificate and its key (for `--tls-*`). */
  nodeFiles: Required<TlsFiles>;
  /** The same, as PEM text. */
  node: Required<TlsOptions>;
  /** The CA, the client certificate and its key, as PEM text. */
  client: Required<TlsOptions>;
}

/** How long the test certificates are valid. */
const VALIDITY_MS = 7 * 24 * 3600 * 1000;

interface KeyPair {
  privateKey: forge.pki.rsa.PrivateKey;
  publicKey: forge.pki.rsa.PublicKey;
  pem: string;
}

async function rsaKeyPair(): Promise<KeyPair> {
  const keys = await crypto.subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    true,
    ["sign", "verify"],
  );
  const der = new Uint8Array(
    await crypto.subtle.exportKey("pkcs8", keys.privateKey),
  );
  const asn1 = forge.asn1.fromDer(forge.util.binary.raw.encode(der));
  const privateKey = forge.pki.privateKeyFromAsn1(
    asn1,
  ) as forge.pki.rsa.PrivateKey;
  const publicKey = forge.pki.setRsaPublicKey(privateKey.n, privateKey.e);
  const pem = forge.pki.privateKeyInfoToPem(
    forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(privateKey)),
  );
  return { privateKey, publicKey, pem };
}

function serial(): string {
  // Positive, 16 bytes.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] &= 0x7f;
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function certificate(
  subject: string,
  publicKey: forge.pki.rsa.PublicKey,
  issuer: forge.pki.Certificate | null,
  signer: forge.pki.rsa.PrivateKey,
  extensions: object[],
): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + VALIDITY_MS);
  cert.setSubject([{ name: "commonName", value: subject }]);
  cert.setIssuer(
    issuer === null ? cert.subject.attributes : issuer.subject.attributes,
  );
  cert.setExtensions(extensions);
  cert.sign(signer, forge.md.sha256.create());
  return cert;
}

/**
 * Makes a throwaway CA and two certificates signed by it, and writes the
 * node's files into `dir` (keys mode 0600).
 *
 * @param dir an existing directory, private to the cluster
 * @returns the files' paths and the PEM text of both certificates
 * @example
 * ```ts
 * import { makeTestCertificates } from "./certs.ts";
 * const dir = await Deno.makeTempDir();
 * const { nodeFiles } = await makeTestCertificates(dir);
 * console.log(nodeFiles.cert.endsWith("node.pem")); // true
 * ```
 */
export async function makeTestCertificates(
  dir: string,
): Promise<TestCertificates> {
  const [caKeys, nodeKeys, clientKeys] = await Promise.all([
    rsaKeyPair(),
    rsaKeyPair(),
    rsaKeyPair(),
  ]);
  const ca = certificate(
    `Spillway throwaway test CA ${serial().slice(0, 8)}`,
    caKeys.publicKey,
    null,
    caKeys.privateKey,
    [
      { name: "basicConstraints", cA: true, critical: true },
      { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
      { name: "subjectKeyIdentifier" },
    ],
  );
  const authority = {
    name: "authorityKeyIdentifier",
    keyIdentifier: ca.generateSubjectKeyIdentifier().getBytes(),
  };
  const leaf = (serverAuth: boolean) => [
    { name: "basicConstraints", cA: false },
    {
      name: "keyUsage",
      digitalSignature: true,
      keyEncipherment: true,
      critical: true,
    },
    { name: "extKeyUsage", serverAuth, clientAuth: true },
    ...(serverAuth
      ? [{
        name: "subjectAltName",
        altNames: [
          { type: 7, ip: "127.0.0.1" },
          { type: 7, ip: "::1" },
          { type: 2, value: "localhost" },
        ],
      }]
      : []),
    authority,
  ];
  const node = certificate(
    "spillway node",
    nodeKeys.publicKey,
    ca,
    caKeys.privateKey,
    leaf(true),
  );
  const client = certificate(
    "spillway client",
    clientKeys.publicKey,
    ca,
    caKeys.privateKey,
    leaf(false),
  );
  const caPem = forge.pki.certificateToPem(ca);
  const nodePem = forge.pki.certificateToPem(node);
  const nodeFiles = {
    ca: join(dir, "ca.pem"),
    cert: join(dir, "node.pem"),
    key: join(dir, "node.key"),
  };
  await Deno.writeTextFile(nodeFiles.ca, caPem, { mode: 0o644 });
  await Deno.writeTextFile(nodeFiles.cert, nodePem, { mode: 0o644 });
  await Deno.writeTextFile(nodeFiles.key, nodeKeys.pem, { mode: 0o600 });
  // `mode` applies only to a new file; make sure of it.
  await Deno.chmod(nodeFiles.key, 0o600);
  return {
    nodeFiles,
    node: { ca: caPem, cert: nodePem, key: nodeKeys.pem },
    client: {
      ca: caPem,
      cert: forge.pki.certificateToPem(client),
      key: clientKeys.pem,
    },
  };
}
