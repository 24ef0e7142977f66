// keyswitch voicemail player: fetches the protected package and a licence
// (one play) from this origin, decrypts with WebCrypto (AES-256-GCM, the
// package's header as associated data, docs/voicemail.md), decodes G.711 to
// 16-bit PCM and plays it with WebAudio. The decoded samples are also put on
// the row's <output> (data-samples, data-pcm: Int16 little-endian, base64),
// which is what a test without speakers reads.
'use strict';
(function () {
  const csrf = document.querySelector('meta[name="ks-csrf"]')?.getAttribute('content') || '';

  function b64urlBytes(s) {
    const b = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4));
    const out = new Uint8Array(b.length);
    for (let i = 0; i < b.length; i++) out[i] = b.charCodeAt(i);
    return out;
  }

  function bytesB64(u8) {
    let s = '';
    for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000));
    return btoa(s);
  }

  // ITU-T G.711 expansion
  function ulaw(u) {
    u = ~u & 0xff;
    let t = ((u & 0x0f) << 3) + 0x84;
    t <<= (u & 0x70) >> 4;
    return u & 0x80 ? 0x84 - t : t - 0x84;
  }
  function alaw(a) {
    a ^= 0x55;
    let t = (a & 0x0f) << 4;
    const seg = (a & 0x70) >> 4;
    if (seg === 0) t += 8;
    else if (seg === 1) t += 0x108;
    else t = (t + 0x108) << (seg - 1);
    return a & 0x80 ? t : -t;
  }

  function parsePackage(buf) {
    const magic = new TextDecoder().decode(new Uint8Array(buf, 0, 4));
    const view = new DataView(buf);
    if (buf.byteLength < 9 || magic !== 'KSVM' || view.getUint8(4) !== 1) throw new Error('not a voicemail package');
    const h = view.getUint32(5);
    if (9 + h + 16 > buf.byteLength) throw new Error('package header length is invalid');
    const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 9, h)));
    return { header, aad: new Uint8Array(buf, 0, 9 + h), body: new Uint8Array(buf, 9 + h) };
  }

  async function refusalText(res) {
    try {
      const j = await res.json();
      return j.message || `refused (${res.status})`;
    } catch {
      return `refused (${res.status})`;
    }
  }

  async function play(id, button) {
    const out = document.querySelector(`output.player[data-message="${id}"]`);
    out.dataset.state = 'loading';
    out.textContent = 'Fetching…';
    button.disabled = true;
    try {
      const pr = await fetch(`/voicemail/m/${id}/package`, { credentials: 'same-origin' });
      if (!pr.ok) throw new Error(await refusalText(pr));
      const pkg = parsePackage(await pr.arrayBuffer());
      const lr = await fetch(`/voicemail/m/${id}/licence`, { method: 'POST', credentials: 'same-origin', headers: { 'x-ks-csrf': csrf } });
      if (!lr.ok) throw new Error(await refusalText(lr));
      const licence = await lr.json();
      if (licence.keyId !== pkg.header.keyId) throw new Error('the licence is for another key');
      const key = await crypto.subtle.importKey('raw', b64urlBytes(licence.contentKey), 'AES-GCM', false, ['decrypt']);
      const g711 = new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv: b64urlBytes(pkg.header.iv), additionalData: pkg.aad, tagLength: 128 }, key, pkg.body));
      const expand = pkg.header.codec === 'PCMA' ? alaw : ulaw;
      const pcm = new Int16Array(g711.length);
      for (let i = 0; i < g711.length; i++) pcm[i] = expand(g711[i]);
      const row = out.closest('tr');
      const plays = row && row.querySelector('.plays');
      if (plays) plays.textContent = licence.rights.playsLeft === null ? 'no limit' : String(licence.rights.playsLeft);
      out.dataset.samples = String(pcm.length);
      out.dataset.pcm = bytesB64(new Uint8Array(pcm.buffer));
      out.dataset.playsLeft = licence.rights.playsLeft === null ? '' : String(licence.rights.playsLeft);
      out.dataset.state = 'decoded';
      out.textContent = `Playing ${(pcm.length / 8000).toFixed(1)} s`;
      try {
        const ctx = new AudioContext();
        const ab = ctx.createBuffer(1, pcm.length, pkg.header.sampleRate || 8000);
        const ch = ab.getChannelData(0);
        for (let i = 0; i < pcm.length; i++) ch[i] = pcm[i] / 32768;
        const src = ctx.createBufferSource();
        src.buffer = ab;
        src.connect(ctx.destination);
        src.onended = () => {
          out.textContent = 'Played';
          ctx.close();
        };
        src.start();
      } catch (err) {
        out.textContent = `Decoded; no audio output here (${err.message})`;
      }
    } catch (err) {
      out.dataset.state = 'refused';
      out.textContent = err.message;
    } finally {
      button.disabled = false;
    }
  }

  document.addEventListener('click', (e) => {
    const b = e.target.closest && e.target.closest('button[data-play]');
    if (b) play(b.getAttribute('data-play'), b);
  });
})();
