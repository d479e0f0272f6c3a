/* tradeledger portal: hash a chosen or dropped file in the browser (only its SHA-256 leaves
   the page), print, and follow the ledger live over server-sent events. No dependencies. */
"use strict";

(function () {
  var FILE_BYTES_MAX = 512 * 1024 * 1024; // a larger file is refused rather than frozen on

  /* SHA-256 (FIPS 180-4). SubtleCrypto exists only in secure contexts (https, localhost); a
     node served over plain http on another address gets this implementation instead. */
  var K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
  ]);

  function sha256Fallback(bytes) {
    var h = new Uint32Array([
      0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
    ]);
    var length = bytes.length;
    var padded = new Uint8Array((((length + 8) >> 6) + 1) << 6);
    padded.set(bytes);
    padded[length] = 0x80;
    var view = new DataView(padded.buffer);
    view.setUint32(padded.length - 8, Math.floor(length / 0x20000000));
    view.setUint32(padded.length - 4, (length << 3) >>> 0);
    var w = new Uint32Array(64);
    for (var offset = 0; offset < padded.length; offset += 64) {
      for (var t = 0; t < 16; t++) w[t] = view.getUint32(offset + t * 4);
      for (t = 16; t < 64; t++) {
        var x = w[t - 15], y = w[t - 2];
        var s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
        var s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
        w[t] = (w[t - 16] + s0 + w[t - 7] + s1) >>> 0;
      }
      var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
      for (t = 0; t < 64; t++) {
        var S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        var ch = (e & f) ^ (~e & g);
        var t1 = (k + S1 + ch + K[t] + w[t]) >>> 0;
        var S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        var maj = (a & b) ^ (a & c) ^ (b & c);
        var t2 = (S0 + maj) >>> 0;
        k = g; g = f; f = e; e = (d + t1) >>> 0;
        d = c; c = b; b = a; a = (t1 + t2) >>> 0;
      }
      h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += k;
    }
    var out = new Uint8Array(32);
    var outView = new DataView(out.buffer);
    for (var i = 0; i < 8; i++) outView.setUint32(i * 4, h[i]);
    return out;
  }

  function hex(bytes) {
    var text = "";
    for (var i = 0; i < bytes.length; i++) text += (bytes[i] + 0x100).toString(16).slice(1);
    return text;
  }

  function sha256Hex(buffer) {
    if (window.crypto && window.crypto.subtle && window.isSecureContext) {
      return window.crypto.subtle.digest("SHA-256", buffer).then(function (digest) {
        return hex(new Uint8Array(digest));
      });
    }
    return Promise.resolve(hex(sha256Fallback(new Uint8Array(buffer))));
  }

  // for the tests: the fallback must agree with SubtleCrypto
  window.tradeledgerSha256Fallback = function (bytes) {
    return hex(sha256Fallback(bytes));
  };

  /* A form with data-hash-form: "navigate" goes to data-target with {sha256} filled in;
     "field" puts the fingerprint in the form's [data-hash-field] for its own submit. */
  function setupHashForm(form) {
    var input = form.querySelector("[data-hash-input]");
    var zone = form.querySelector("[data-drop]");
    var status = form.querySelector("[data-hash-status]");
    var field = form.querySelector("[data-hash-field]");
    var submit = form.querySelector("button[type=submit]:not(.manual button)");
    if (!input || !status) return;

    function say(text, bad) {
      status.textContent = text;
      status.classList.toggle("drop__status--bad", !!bad);
    }

    function handle(file) {
      if (!file) return;
      if (file.size > FILE_BYTES_MAX) {
        say("This file is larger than 512 MB; check it with `tradeledger verify` instead.", true);
        return;
      }
      say("Computing the fingerprint of " + file.name + "…");
      if (submit) submit.disabled = true;
      file
        .arrayBuffer()
        .then(sha256Hex)
        .then(function (digest) {
          if (form.dataset.hashForm === "field") {
            if (field) field.value = digest;
            say("Fingerprint of " + file.name + ": " + digest);
            if (submit) submit.disabled = false;
            return;
          }
          say("Fingerprint " + digest + ". Checking…");
          window.location.assign(form.dataset.target.replace("{sha256}", digest));
        })
        .catch(function () {
          say("The file could not be read. Choose it again.", true);
          if (submit) submit.disabled = false;
        });
    }

    input.addEventListener("change", function () {
      handle(input.files && input.files[0]);
    });
    if (zone) {
      ["dragenter", "dragover"].forEach(function (name) {
        zone.addEventListener(name, function (event) {
          event.preventDefault();
          zone.classList.add("drop--over");
        });
      });
      ["dragleave", "drop"].forEach(function (name) {
        zone.addEventListener(name, function () {
          zone.classList.remove("drop--over");
        });
      });
      zone.addEventListener("drop", function (event) {
        event.preventDefault();
        var files = event.dataTransfer && event.dataTransfer.files;
        handle(files && files[0]);
      });
    }
  }

  /* The live ledger view: one EventSource; each block updates the height, the validators'
     liveness and the recent blocks. */
  function setupLedger(root) {
    var status = document.querySelector("[data-live-status]");
    var blocks = document.querySelector("[data-blocks]");
    var validators = document.querySelector("[data-validators]");
    var rowsMax = blocks ? Math.max(blocks.rows.length, 10) : 10;
    if (!window.EventSource) {
      if (status) status.textContent = "This browser cannot follow the ledger live; reload to update.";
      return;
    }
    var source = new EventSource("/portal/ledger/events");
    source.addEventListener("open", function () {
      if (status) status.textContent = "Live: updated as blocks are committed.";
    });
    source.addEventListener("error", function () {
      if (status) status.textContent = "Live updates interrupted; reconnecting…";
    });
    source.addEventListener("block", function (event) {
      var block = JSON.parse(event.data);
      root.querySelector("[data-height]").textContent = String(block.height);
      root.querySelector("[data-latest-time]").textContent = block.time;
      var live = 0;
      block.validators.forEach(function (v) {
        if (v.signed > 0) live += 1;
        var row = validators && validators.querySelector('tr[data-node-key="' + v.node_key + '"]');
        if (!row) return;
        row.querySelector("[data-connected]").textContent = v.connected ? "✓ yes" : "✕ no";
        row.querySelector("[data-signed]").textContent =
          (v.signed > 0 ? "✓ " : "✕ none: ") + v.signed + " of " + v.window;
      });
      root.querySelector("[data-live-count]").textContent = live + " of " + block.validators.length;
      if (blocks) {
        var row = document.createElement("tr");
        [String(block.height), block.time, String(block.tx_count)].forEach(function (text) {
          var cell = document.createElement("td");
          cell.textContent = text;
          row.appendChild(cell);
        });
        var hashCell = document.createElement("td");
        var code = document.createElement("code");
        code.textContent = block.hash.slice(0, 16) + "…";
        hashCell.appendChild(code);
        row.appendChild(hashCell);
        blocks.insertBefore(row, blocks.firstChild);
        while (blocks.rows.length > rowsMax) blocks.deleteRow(blocks.rows.length - 1);
      }
    });
    window.addEventListener("pagehide", function () {
      source.close();
    });
  }

  function start() {
    document.querySelectorAll("[data-hash-form]").forEach(setupHashForm);
    document.querySelectorAll("[data-print]").forEach(function (button) {
      button.addEventListener("click", function () {
        window.print();
      });
    });
    var ledger = document.querySelector("[data-live-ledger]");
    if (ledger) setupLedger(ledger);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
