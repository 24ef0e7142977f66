// keyswitch console: the few lines of script the pages use (docs/console.md).
// Pages work without it, except that tables are then not live and the chart is not drawn.
'use strict';

// Live tables: an element with data-live gets its content replaced by each
// `rows` event of that server-sent event stream; `end` closes the stream.
for (const el of document.querySelectorAll('[data-live]')) {
  const src = new EventSource(el.dataset.live);
  el.dataset.state = 'connecting';
  src.addEventListener('open', () => { el.dataset.state = 'live'; });
  src.addEventListener('rows', (e) => {
    el.innerHTML = e.data; // server-rendered, escaped, same origin; no script runs from it (CSP)
    el.dataset.state = 'live';
  });
  src.addEventListener('end', () => {
    src.close();
    el.dataset.state = 'ended';
    if (el.dataset.reloadOnEnd !== undefined) window.location.reload();
  });
  src.addEventListener('error', () => {
    el.dataset.state = src.readyState === EventSource.CLOSED ? 'ended' : 'reconnecting';
  });
}

// Forms that change something irreversible ask first.
document.addEventListener('submit', (e) => {
  const msg = e.target.dataset && e.target.dataset.confirm;
  if (msg && !window.confirm(msg)) e.preventDefault();
});

// Bulk import: a chosen CSV file is read into the text area (nothing is uploaded until the form is sent).
for (const input of document.querySelectorAll('input[type=file][data-into]')) {
  input.addEventListener('change', async () => {
    const f = input.files && input.files[0];
    const area = document.getElementById(input.dataset.into);
    if (f && area) area.value = await f.text();
  });
}

// Rates of the last hour (uPlot), refreshed every sampling step; times in UTC like the rest of the console.
const box = document.getElementById('rates');
if (box && window.uPlot) {
  const colours = ['#2563eb', '#16a34a', '#dc2626', '#9333ea', '#ea580c'];
  let plot;
  const size = () => ({ width: Math.max(320, box.clientWidth - 16), height: 260 }); // inside the box's padding
  const draw = async () => {
    const r = await fetch(box.dataset.src, { credentials: 'same-origin', cache: 'no-store' });
    if (!r.ok) return;
    const w = await r.json();
    const data = [w.t, ...w.series.map((s) => s.values)];
    if (plot) return plot.setData(data);
    plot = new window.uPlot({
      ...size(),
      tzDate: (ts) => window.uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
      axes: [{}, { label: 'per minute' }],
      series: [{ label: 'UTC' }, ...w.series.map((s, i) => ({ label: s.label, stroke: colours[i % colours.length], width: 2 }))],
    }, data, box);
    box.dataset.state = 'drawn';
  };
  draw().catch(() => undefined);
  setInterval(() => draw().catch(() => undefined), 15000);
  window.addEventListener('resize', () => plot && plot.setSize(size()));
}
