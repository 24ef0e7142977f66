// The one address terminals see in front of a pool of SBC instances: a UDP
// relay, as a layer-4 load balancer in front of the pool would be (the lab's
// `vip` host; test/scale-out/lab.ts). Each terminal's flow gets one socket per
// instance, so an instance sees the relay's address and a port per terminal,
// and what an instance sends to that port goes back to the terminal.
//   node balancer.mjs HOST PORT BACKEND_HOST:PORT ...
// Commands on standard input, one a line (answered "ok" on stdout):
//   sticky      each terminal address stays on one live instance, over UDP and TCP alike (new
//               addresses round robin), as source affinity does; default
//   flow        each UDP flow (address and port) and each TCP connection on the next live instance:
//               the terminals of one address spread over the pool; a flow stays where it started
//   alternate   each request from a terminal goes to the next live instance
// In every mode a response goes to the instance that last sent that flow something (while it is live).
// TCP (SIP over TCP, TLS, TLS-PSK: ports PORT, PORT+1, PORT+2) is relayed per connection to a
// live instance's same port (sticky: the address's instance; alternate: round robin); the
// connection ends with the instance.
//   trace on|off    print each SIP message relayed over UDP: "> [N] first line" toward instance N,
//                   "< [N] first line | Retry-After: v" from instance N toward a terminal
//   pin ADDRESS N   (sticky) the terminal at ADDRESS is on instance N
//   down N / up N   instance N (0-based) is out of / back in the pool, as a health check would find
import dgram from 'node:dgram';
import net from 'node:net';
import readline from 'node:readline';

const [host, port, ...list] = process.argv.slice(2);
const backends = list.map((b) => {
  const i = b.lastIndexOf(':');
  return { host: b.slice(0, i), port: Number(b.slice(i + 1)), live: true };
});
let mode = 'sticky';
let trace = false;
function show(dir, i, msg) {
  const text = msg.toString('latin1');
  const first = text.slice(0, text.indexOf('\r\n'));
  const ra = /\r\nRetry-After:\s*([^\r]*)/i.exec(text);
  process.stdout.write(`${dir} [${i}] ${first}${ra ? ` | Retry-After: ${ra[1]}` : ''}\n`);
}
let next = 0;
const flows = new Map();
/** terminal address -> instance, in sticky mode */
const affinity = new Map();
function stuck(addr) {
  let b = affinity.get(addr);
  if (b === undefined || b < 0 || !backends[b].live) {
    b = pick();
    affinity.set(addr, b);
  }
  return b;
}
const front = dgram.createSocket('udp4');

const live = () => backends.map((b, i) => (b.live ? i : -1)).filter((i) => i >= 0);
function pick() {
  const l = live();
  if (l.length === 0) return -1;
  return l[next++ % l.length];
}

function flowOf(addr, p) {
  const key = `${addr}:${p}`;
  let f = flows.get(key);
  if (f) return f;
  f = { addr, port: p, socks: [], last: -1, own: pick() };
  backends.forEach((b, i) => {
    const s = dgram.createSocket('udp4');
    s.bind(0, host);
    s.on('message', (msg) => {
      f.last = i;
      if (trace) show('<', i, msg);
      front.send(msg, f.port, f.addr);
    });
    s.on('error', () => undefined);
    f.socks.push(s);
  });
  flows.set(key, f);
  return f;
}

front.on('message', (msg, rinfo) => {
  const f = flowOf(rinfo.address, rinfo.port);
  let b;
  const response = msg.subarray(0, 8).toString('latin1') === 'SIP/2.0 ';
  if (response && f.last >= 0 && backends[f.last].live) b = f.last;
  else if (mode === 'alternate') b = pick();
  else if (mode === 'flow') {
    if (f.own < 0 || !backends[f.own].live) f.own = pick();
    b = f.own;
  } else b = stuck(rinfo.address);
  if (b < 0) return;
  if (trace) show('>', b, msg);
  f.socks[b].send(msg, backends[b].port, backends[b].host);
});
front.on('error', (e) => {
  process.stderr.write(`balancer: ${e.message}\n`);
  process.exit(1);
});

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const [cmd, arg] = line.trim().split(/\s+/);
  if (cmd === 'sticky' || cmd === 'flow' || cmd === 'alternate') mode = cmd;
  else if (cmd === 'trace' && (arg === 'on' || arg === 'off')) trace = arg === 'on';
  else if (cmd === 'pin' && backends[Number(line.trim().split(/\s+/)[2])]) affinity.set(arg, Number(line.trim().split(/\s+/)[2]));
  else if ((cmd === 'down' || cmd === 'up') && backends[Number(arg)]) backends[Number(arg)].live = cmd === 'up';
  else {
    process.stdout.write(`error ${line}\n`);
    return;
  }
  process.stdout.write(`ok ${line}\n`);
});
for (const offset of [0, 1, 2]) {
  net.createServer((c) => {
    const b = mode === 'sticky' ? stuck(c.remoteAddress) : pick();
    if (b < 0) return c.destroy();
    if (trace) process.stdout.write(`> [${b}] TCP connection to port ${backends[b].port + offset}\n`);
    const u = net.connect(backends[b].port + offset, backends[b].host);
    c.pipe(u).pipe(c);
    c.on('error', () => u.destroy());
    u.on('error', () => c.destroy());
    c.on('close', () => u.destroy());
    u.on('close', () => c.destroy());
  }).listen(Number(port) + offset, host);
}
front.bind(Number(port), host, () => process.stdout.write(`balancer ready on ${host}:${port}\n`));
