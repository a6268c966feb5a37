"use strict";
// The review page of one recording (see aitranscribe/transcription/review.py): words to click and play, the word
// being spoken highlighted, doubtful words marked, corrections and speaker names exported as downloads.
// It reads only the JSON block of this page and the recording; it sends nothing anywhere.
(function () {
  const D = JSON.parse(document.getElementById("data").textContent);
  const audio = document.getElementById("audio");
  const $ = (id) => document.getElementById(id);
  const words = D.words.map((w) => Object.assign({}, w));
  const cleanName = (text, label) => text.replace(/[:\n]/g, " ").trim() || label;  // ': ' ends a name in the .txt
  const names = {};
  Object.entries(D.names).forEach(([label, text]) => { names[label] = cleanName(text, label); });
  let threshold = D.threshold;
  let selected = -1, playing = -1, dirty = false;
  let spans = [];

  const clock = (s) => {
    s = Math.max(0, s);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
    const mm = String(m).padStart(h ? 2 : 1, "0"), ss = String(sec).padStart(2, "0");
    return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
  };
  const nameOf = (label) => (names[label] || label);
  const speakerIndex = (label) => Math.max(0, D.speakers.indexOf(label));
  const el = (tag, attrs, text) => {
    const e = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => e.setAttribute(k, v));
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const say = (text) => { $("status").textContent = text; };

  // -- playback ------------------------------------------------------------------------------------------------
  function playFrom(seconds) {
    audio.currentTime = seconds;
    const started = audio.play();
    if (started && started.catch) started.catch(() => {});
  }
  audio.addEventListener("error", () => { $("missing").hidden = false; });
  $("pick").addEventListener("change", (e) => {
    const file = e.target.files[0];
    if (file) { audio.src = URL.createObjectURL(file); $("missing").hidden = true; }
  });

  function wordAt(t) {  // the last word that starts at or before t (binary search)
    let lo = 0, hi = words.length - 1, found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (words[mid].start <= t + 1e-3) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    return found;
  }
  function showPlaying() {
    const i = wordAt(audio.currentTime);
    if (i !== playing) {
      if (playing >= 0 && spans[playing]) spans[playing].classList.remove("now");
      playing = i;
      if (i >= 0 && spans[i]) {
        spans[i].classList.add("now");
        if ($("follow").checked && !audio.paused) spans[i].scrollIntoView({ block: "nearest" });
      }
    }
    drawPlayhead();
  }
  function tick() { showPlaying(); if (!audio.paused) requestAnimationFrame(tick); }
  audio.addEventListener("play", () => requestAnimationFrame(tick));
  audio.addEventListener("seeked", showPlaying);
  audio.addEventListener("timeupdate", showPlaying);

  // -- doubtful words ------------------------------------------------------------------------------------------
  const doubtful = (w) => !w.edited && typeof w.confidence === "number" && w.confidence < threshold;
  function markDoubts() {
    let n = 0;
    words.forEach((w, i) => { const d = doubtful(w); n += d; if (spans[i]) spans[i].classList.toggle("doubt", d); });
    $("doubt-count").textContent = `${n} doubtful word${n === 1 ? "" : "s"}`;
  }
  function select(i) {
    if (selected >= 0 && spans[selected]) spans[selected].classList.remove("sel");
    selected = i;
    if (i >= 0 && spans[i]) { spans[i].classList.add("sel"); spans[i].scrollIntoView({ block: "center" }); }
  }
  function nextDoubt(step) {
    const from = selected >= 0 ? selected : (step > 0 ? -1 : words.length);
    for (let i = from + step; i >= 0 && i < words.length; i += step) {
      if (doubtful(words[i])) { select(i); playFrom(words[i].start); return; }
    }
    say("no further doubtful word");
  }
  $("threshold").value = threshold;
  $("threshold").addEventListener("input", (e) => {
    const v = parseFloat(e.target.value);
    if (!Number.isNaN(v)) { threshold = v; markDoubts(); }
  });
  $("next-doubt").addEventListener("click", () => nextDoubt(1));

  // -- corrections ---------------------------------------------------------------------------------------------
  function replaceWords(first, count, texts) {
    // words[first .. first+count) become texts over the same time span (evenly shared when the count changes)
    const old = words.slice(first, first + count);
    if (!old.length) return;
    const start = old[0].start, end = old[old.length - 1].end, speaker = old[0].speaker;
    const same = texts.length === old.length;
    const fresh = texts.map((text, k) => {
      const o = same ? old[k] : null;
      if (o && o.word === text) return o;
      const a = o ? o.start : start + (end - start) * k / texts.length;
      const b = o ? o.end : start + (end - start) * (k + 1) / texts.length;
      const w = { word: text, start: Math.round(a * 1000) / 1000, end: Math.round(b * 1000) / 1000, speaker: speaker,
                  confidence: 1.0, edited: true };
      if (o) w.original = o.original !== undefined ? o.original : o.word;
      return w;
    });
    words.splice(first, count, ...fresh);
    dirty = true;
    renderTranscript();
    say(`${fresh.filter((w) => w.edited).length} word(s) corrected`);
  }
  const tokens = (text) => text.trim().split(/\s+/).filter((t) => t.length);
  function editWord(i) {
    const span = spans[i];
    if (!span || span.querySelector("input")) return;
    const input = el("input", { type: "text", "aria-label": "correct word" });
    input.value = words[i].word;
    span.textContent = "";
    span.appendChild(input);
    input.focus();
    input.select();
    input.addEventListener("keydown", (e) => {
      e.stopPropagation();
      if (e.key === "Enter") { replaceWords(i, 1, tokens(input.value)); select(Math.min(i, words.length - 1)); }
      if (e.key === "Escape") renderTranscript();
    });
  }
  function editTurn(box, first, count) {
    const area = el("textarea", { "aria-label": "correct this turn" });
    area.value = words.slice(first, first + count).map((w) => w.word).join(" ");
    const save = el("button", {}, "Save turn"), cancel = el("button", {}, "Cancel");
    const body = box.querySelector(".words");
    body.replaceChildren(area, save, cancel);
    area.focus();
    area.addEventListener("keydown", (e) => e.stopPropagation());
    save.addEventListener("click", () => replaceWords(first, count, tokens(area.value)));
    cancel.addEventListener("click", renderTranscript);
  }

  // -- rendering -----------------------------------------------------------------------------------------------
  function groups() {  // consecutive words of one speaker: [first index, count]
    const out = [];
    words.forEach((w, i) => {
      const last = out[out.length - 1];
      if (last && words[last[0]].speaker === w.speaker) last[1] += 1; else out.push([i, 1]);
    });
    return out;
  }
  function renderTranscript() {
    const root = $("transcript");
    root.replaceChildren();
    spans = [];
    groups().forEach(([first, count]) => {
      const label = words[first].speaker;
      const box = el("div", { class: `turn s${speakerIndex(label) % 6}`, "data-speaker": label || "" });
      const head = el("div", { class: "head" });
      if (label) head.appendChild(el("span", { class: "who" }, nameOf(label)));
      const at = el("span", { class: "at", title: "play this turn" }, clock(words[first].start));
      at.addEventListener("click", () => playFrom(words[first].start));
      const pen = el("button", { class: "edit-turn", title: "correct this turn" }, "\u270e");
      pen.addEventListener("click", () => editTurn(box, first, count));
      head.append(at, pen);
      const body = el("div", { class: "words" });
      for (let i = first; i < first + count; i++) {
        const w = words[i];
        const span = el("span", { class: "w" + (w.edited ? " edited" : ""), "data-i": i, "data-start": w.start,
                                  title: `${clock(w.start)}` + (typeof w.confidence === "number"
                                    ? ` · confidence ${w.confidence.toFixed(2)}` : "") }, w.word);
        span.addEventListener("click", () => { select(i); playFrom(w.start); });
        span.addEventListener("dblclick", () => { audio.pause(); editWord(i); });
        spans.push(span);
        body.append(span, " ");
      }
      box.append(head, body);
      root.appendChild(box);
    });
    playing = -1;
    markDoubts();
    if (selected >= 0 && spans[selected]) spans[selected].classList.add("sel");
    showPlaying();
  }

  const pct = (x) => (x === null || x === undefined ? "" : `${(100 * x).toFixed(1)}%`);
  const num = (x, digits) => (x === null || x === undefined ? "" : Number(x).toFixed(digits));
  function renderFigures() {
    const table = $("figures");
    table.replaceChildren();
    const s = D.session;
    if (!s) { table.appendChild(el("caption", {}, "no session figures")); return; }
    const head = ["speaker", "talk", "share", "turns", "mean turn (s)", "longest turn (s)", "longest stretch (s)",
                  "words/min", "pauses", "pause total (s)", "longest pause (s)", "overlaps"];
    const tr = el("tr");
    head.forEach((h) => tr.appendChild(el("th", {}, h)));
    table.appendChild(tr);
    const row = (label, f, isRecording) => {
      const r = el("tr", { "data-speaker": label || "" });
      const cell = el("td");
      if (isRecording) cell.textContent = "whole recording";
      else {
        const input = el("input", { class: "name", type: "text", "aria-label": `name of ${label}` });
        input.value = nameOf(label);
        input.addEventListener("change", () => {
          names[label] = cleanName(input.value, label);
          dirty = true;
          renderTranscript();
          drawTimeline();
        });
        cell.append(input, el("span", { class: "note" }, ` ${label}`));
      }
      r.appendChild(cell);
      [clock(f.talk_s), pct(f.talk_share), f.turns, isRecording ? "" : num(f.mean_turn_s, 1),
       isRecording ? "" : num(f.longest_turn_s, 1), isRecording ? "" : num(f.longest_stretch_s, 1),
       num(f.words_per_minute, 0), f.pauses, num(f.pause_total_s, 1), num(f.longest_pause_s, 1),
       f.overlaps].forEach((v) => r.appendChild(el("td", {}, v === undefined ? "" : String(v))));
      table.appendChild(r);
    };
    row("", s.recording, true);
    Object.entries(s.speakers).forEach(([label, f]) => row(label, f, false));
  }

  const SVG = "http://www.w3.org/2000/svg";  // a name, never fetched
  const COLORS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2"];
  function drawTimeline() {
    const svg = $("timeline");
    svg.replaceChildren();
    const total = D.seconds || 1, rows = Math.max(1, D.speakers.length);
    svg.setAttribute("viewBox", `0 0 1000 ${rows * 20}`);
    svg.setAttribute("preserveAspectRatio", "none");
    (D.turns || []).forEach((t) => {
      const k = speakerIndex(t.speaker);
      const r = document.createElementNS(SVG, "rect");
      r.setAttribute("x", 1000 * t.start / total);
      r.setAttribute("width", Math.max(1, 1000 * (t.end - t.start) / total));
      r.setAttribute("y", k * 20 + 3);
      r.setAttribute("height", 14);
      r.setAttribute("fill", COLORS[k % COLORS.length]);
      const title = document.createElementNS(SVG, "title");
      title.textContent = `${nameOf(t.speaker)} ${clock(t.start)}-${clock(t.end)}`;
      r.appendChild(title);
      svg.appendChild(r);
    });
    const legend = $("legend");
    legend.replaceChildren(el("span", {}, `0:00 to ${clock(total)}, one row per speaker:`));
    D.speakers.forEach((label, k) => {
      const item = el("span", {}, nameOf(label));
      const swatch = el("i");
      swatch.style.background = COLORS[k % COLORS.length];
      item.prepend(swatch);
      legend.appendChild(item);
    });
    const head = document.createElementNS(SVG, "line");
    head.setAttribute("id", "playhead");
    head.setAttribute("y1", 0);
    head.setAttribute("y2", rows * 20);
    head.setAttribute("stroke", "#000");
    svg.appendChild(head);
    drawPlayhead();
  }
  function drawPlayhead() {
    const head = document.getElementById("playhead");
    if (!head) return;
    const x = 1000 * (audio.currentTime || 0) / (D.seconds || 1);
    head.setAttribute("x1", x);
    head.setAttribute("x2", x);
  }
  $("timeline").addEventListener("click", (e) => {
    const box = e.currentTarget.getBoundingClientRect();
    playFrom(D.seconds * (e.clientX - box.left) / box.width);
  });

  // -- export --------------------------------------------------------------------------------------------------
  function turnsText() {
    return groups().map(([first, count]) => {
      const text = words.slice(first, first + count).map((w) => w.word).join(" ");
      return words[first].speaker ? `${nameOf(words[first].speaker)}: ${text}` : text;
    });
  }
  function corrected() {
    const segments = groups().map(([first, count]) => ({
      speaker: words[first].speaker, start: words[first].start, end: words[first + count - 1].end,
      text: words.slice(first, first + count).map((w) => w.word).join(" ") }));
    return [Object.assign({}, D.result, { words: words, segments: segments, speaker_names: names, corrected: true })];
  }
  function download(filename, text, type) {
    const url = URL.createObjectURL(new Blob([text], { type: type }));
    const a = el("a", { href: url, download: filename });
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
    dirty = false;
    say(`downloaded ${filename}`);
  }
  $("export-json").addEventListener("click", () =>
    download(`${D.file_stem}.transcripts.json`, JSON.stringify(corrected(), null, 2) + "\n", "application/json"));
  $("export-txt").addEventListener("click", () =>
    download(`${D.file_stem}.txt`, [`${D.reference_header} ${D.name}`, ...turnsText()].join("\n") + "\n",
             "text/plain"));
  window.addEventListener("beforeunload", (e) => { if (dirty) { e.preventDefault(); e.returnValue = ""; } });

  // -- keys ----------------------------------------------------------------------------------------------------
  document.addEventListener("keydown", (e) => {
    const target = e.target.tagName;
    if (target === "INPUT" || target === "TEXTAREA" || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "n") { nextDoubt(1); e.preventDefault(); }
    if (e.key === "N") { nextDoubt(-1); e.preventDefault(); }
    if (e.key === " " && target !== "BUTTON" && target !== "AUDIO") {
      if (audio.paused) { const p = audio.play(); if (p && p.catch) p.catch(() => {}); } else audio.pause();
      e.preventDefault();
    }
    if (e.key === "Enter" && selected >= 0 && target !== "BUTTON") { audio.pause(); editWord(selected); e.preventDefault(); }
  });

  renderFigures();
  drawTimeline();
  renderTranscript();
})();
