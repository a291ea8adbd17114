#!/usr/bin/env python3
"""An EST client that proves possession by TLS channel binding (RFC 7030 section 3.5).

It opens one TLS connection with a client certificate, reads the connection's channel binding,
makes a CSR (openssl req) whose challengePassword is its base64 (or a wrong value), and sends
simpleenroll on that same connection. TLS 1.2: Python's ssl module gives tls-unique (RFC 5929).
TLS 1.3: openssl s_client gives the RFC 9266 tls-exporter (-keymatexport EXPORTER-Channel-Binding).
Prints "STATUS <code>" and writes the response body to --body. Talks to 127.0.0.1 only.
"""
import argparse
import base64
import os
import socket
import ssl
import subprocess
import sys


def make_csr(args, binding):
    if args.binding == "wrong":
        binding = bytes([binding[0] ^ 1]) + binding[1:]
    config = os.path.join(args.dir, args.name + ".cnf")
    with open(config, "w") as f:
        f.write("[req]\nprompt = no\ndistinguished_name = dn\n")
        if args.binding != "none":
            f.write("attributes = attrs\n")
        f.write("[dn]\nCN = %s.localhost\n" % args.name)
        if args.binding != "none":
            f.write("[attrs]\nchallengePassword = %s\n" % base64.b64encode(binding).decode())
    csr = os.path.join(args.dir, args.name + ".csr")
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-config", config, "-addext", "subjectAltName=DNS:%s.localhost" % args.name,
                    "-keyout", os.path.join(args.dir, args.name + ".key"), "-out", csr],
                   check=True, capture_output=True)
    with open(csr, "rb") as f:
        return f.read()


def request_bytes(args, body):
    head = ("POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/pkcs10\r\n"
            "Content-Length: %d\r\nConnection: close\r\n\r\n" % (args.path, len(body)))
    return head.encode() + body


def over_tls12(args):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(args.cafile)
    context.load_cert_chain(args.cert, args.key)
    with socket.create_connection(("127.0.0.1", args.port), timeout=20) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            binding = tls.get_channel_binding("tls-unique")
            tls.sendall(request_bytes(args, make_csr(args, binding)))
            answer = b""
            while True:
                chunk = tls.recv(65536)
                if not chunk:
                    break
                answer += chunk
    return answer


def over_tls13(args):
    client = subprocess.Popen(
        ["openssl", "s_client", "-connect", "127.0.0.1:%d" % args.port, "-servername", "localhost", "-tls1_3",
         "-CAfile", args.cafile, "-cert", args.cert, "-key", args.key, "-keymatexport", "EXPORTER-Channel-Binding",
         "-keymatexportlen", "32", "-ign_eof"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    binding = None
    while binding is None:
        line = client.stdout.readline()
        if not line:
            client.kill()
            sys.exit("s_client ended before printing the keying material")
        text = line.decode(errors="replace").strip()
        if text.startswith("Keying material:"):
            binding = bytes.fromhex(text.split(":", 1)[1].strip())
    try:
        rest, _ = client.communicate(input=request_bytes(args, make_csr(args, binding)), timeout=20)
    except subprocess.TimeoutExpired:
        client.kill()
        sys.exit("no answer within 20 s")
    at = rest.find(b"HTTP/1.1 ")
    return rest[at:] if at >= 0 else b""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cafile", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--tls", choices=["1.2", "1.3"], required=True)
    parser.add_argument("--binding", choices=["right", "wrong", "none"], default="right")
    parser.add_argument("--dir", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--body", required=True)
    args = parser.parse_args()
    answer = over_tls12(args) if args.tls == "1.2" else over_tls13(args)
    head, _, body = answer.partition(b"\r\n\r\n")
    with open(args.body, "wb") as f:
        f.write(body)
    status = head.split(b" ", 2)[1].decode() if head.startswith(b"HTTP/1.1 ") else "none"
    print("STATUS %s" % status)


if __name__ == "__main__":
    main()
