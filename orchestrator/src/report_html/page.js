// Draws the space-time diagram of report.html from the JSON in #diagram-data.
// Data (built by orchestrator/src/report_html/diagram.rs), times in ms since the run started:
//   ev:    [node, t, lc, kind, text, detail] in timeline order
//   msgs:  [send event, receive event or -1, type index, addressee]
//   cs:    [node, enter, exit, resource]; spans: {t0, t1, kind, lanes, label, detail}
//   marks: {t, label}; evidence: [node, lc, property]
(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('diagram-data').textContent);
  var NS = 'http://www.w3.org/2000/svg';
  var LANE = 52, TOP = 56, BOTTOM = 14, LEFT = 24, RIGHT = 60, GAP = 12;
  var svg = document.getElementById('diagram');
  var scroller = document.getElementById('diagram-scroll');
  var labels = document.getElementById('lane-labels');
  var tip = document.getElementById('tip');
  var state = { zoom: 1, axis: 'time' };
  var laneIndex = {};
  D.nodes.forEach(function (n, i) { laneIndex[n] = i; });
  var typeIndex = {};
  D.types.forEach(function (t, i) { typeIndex[t] = i; });
  var eventAt = {};
  D.ev.forEach(function (e, i) { eventAt[e[0] + ':' + e[2]] = i; });
  var evidence = {};
  D.evidence.forEach(function (e) { (evidence[e[0] + ':' + e[1]] = evidence[e[0] + ':' + e[1]] || []).push(e[2]); });
  var height = TOP + D.nodes.length * LANE + BOTTOM;
  var times = D.ev.map(function (e) { return e[1]; });

  function yOf(node) { return TOP + laneIndex[node] * LANE + LANE / 2; }
  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) { e.setAttribute(k, attrs[k]); }
    if (parent) { parent.appendChild(e); }
    return e;
  }
  function seconds(ms) { return (ms / 1000).toFixed(3) + ' s'; }
  function duration(ms) {
    if (ms < 1) { return Math.round(ms * 1000) + ' µs'; }
    if (ms < 1000) { return ms.toFixed(2) + ' ms'; }
    return (ms / 1000).toFixed(3) + ' s';
  }
  function niceStep(raw) {
    var p = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) { if (steps[i] * p >= raw) { return steps[i] * p; } }
    return 10 * p;
  }

  // Where things go for the current axis and zoom: x of event i, and x of a time.
  function geometry() {
    var base = Math.max(scroller.clientWidth - 4, 640);
    var span = Math.max(D.t1 - D.t0, 1e-6);
    if (state.axis === 'time') {
      var w = base * state.zoom, inner = w - LEFT - RIGHT;
      var xt = function (t) { return LEFT + (t - D.t0) / span * inner; };
      return { w: w, xt: xt, x: function (i) { return xt(D.ev[i][1]); } };
    }
    var step = GAP * state.zoom;
    var width = Math.max(base, LEFT + RIGHT + Math.max(D.ev.length - 1, 1) * step);
    var xi = function (i) { return LEFT + i * step; };
    // A time between events sits between them (events are in time order, up to causality).
    var xtime = function (t) {
      var lo = 0, hi = times.length;
      while (lo < hi) { var mid = (lo + hi) >> 1; if (times[mid] < t) { lo = mid + 1; } else { hi = mid; } }
      if (lo >= times.length) { return xi(Math.max(times.length - 1, 0)) + step; }
      return xi(lo) - (lo > 0 ? step / 2 : 0);
    };
    return { w: width, xt: xtime, x: xi };
  }

  function drawAxis(g, root) {
    var axis = el('g', { 'class': 'axis' }, root);
    if (state.axis === 'time') {
      var inner = g.w - LEFT - RIGHT, span = Math.max(D.t1 - D.t0, 1e-6);
      var step = niceStep(span * 110 / inner);
      for (var t = Math.ceil(D.t0 / step) * step; t <= D.t1 + 1e-9; t += step) {
        var x = g.xt(t);
        el('line', { 'class': 'tick-line', x1: x, x2: x, y1: TOP - 6, y2: height - BOTTOM }, axis);
        var text = step >= 100 ? (t / 1000).toFixed(step >= 1000 ? 0 : 1) + ' s' : +t.toFixed(3) + ' ms';
        el('text', { 'class': 'tick-label', x: x + 3, y: 13 }, axis).textContent = text;
      }
    } else {
      var every = Math.max(1, Math.round(120 / (GAP * state.zoom)));
      for (var i = 0; i < D.ev.length; i += every) {
        var xi = g.x(i);
        el('line', { 'class': 'tick-line', x1: xi, x2: xi, y1: TOP - 6, y2: height - BOTTOM }, axis);
        el('text', { 'class': 'tick-label', x: xi + 3, y: 13 }, axis).textContent = '#' + i + ' · ' + seconds(D.ev[i][1]);
      }
    }
    // Fault labels on two rows; one that would still overlap is left to the line's tooltip.
    var rowEnd = [-1e9, -1e9];
    D.marks.forEach(function (m, k) {
      var x = g.xt(m.t);
      el('line', { 'class': 'fault-mark', x1: x, x2: x, y1: 18, y2: height - BOTTOM, 'data-k': 'k' + k }, axis);
      var row = x > rowEnd[0] ? 0 : (x > rowEnd[1] ? 1 : -1);
      if (row < 0) { return; }
      rowEnd[row] = x + m.label.length * 6.2 + 8;
      el('text', { 'class': 'fault-label', x: x + 3, y: 28 + row * 13 }, axis).textContent = m.label;
    });
  }

  function marker(defs, i) {
    var m = el('marker', { id: 'arrow-' + i, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto' }, defs);
    el('path', { d: 'M0,0 L10,5 L0,10 z', fill: D.colours[i] }, m);
  }

  function eventColour(name) {
    if (/^(elected|leader)$/.test(name)) { return '#d4a017'; }
    if (/lost|suspect|conflict|fail/.test(name)) { return '#e4572e'; }
    if (name === 'enter_cs') { return '#2e9e44'; }
    if (name === 'exit_cs') { return '#1f78b4'; }
    if (/start/.test(name)) { return '#8e44ad'; }
    return '#6b7280';
  }

  function render() {
    var g = geometry();
    svg.textContent = '';
    svg.setAttribute('width', g.w);
    svg.setAttribute('height', height);
    svg.setAttribute('viewBox', '0 0 ' + g.w + ' ' + height);
    var defs = el('defs', {}, svg);
    D.colours.forEach(function (_, i) { marker(defs, i); });
    var bgs = el('g', { 'class': 'lane-bgs' }, svg);
    D.nodes.forEach(function (n, i) {
      el('rect', { 'class': 'lane-bg' + (i % 2 ? ' odd' : ''), x: 0, y: TOP + i * LANE, width: g.w, height: LANE }, bgs);
    });
    var spans = el('g', { 'class': 'spans' }, svg);
    D.spans.forEach(function (s, k) {
      var x0 = g.xt(s.t0), x1 = Math.max(g.xt(s.t1), x0 + 2);
      var first = true;
      s.lanes.slice().sort(function (a, b) { return laneIndex[a] - laneIndex[b]; }).forEach(function (n) {
        var top = TOP + laneIndex[n] * LANE;
        el('rect', { 'class': 'span span-' + s.kind, x: x0, y: top + 2, width: x1 - x0, height: LANE - 4, 'data-k': 'f' + k }, spans);
        if (first || s.kind !== 'partition') {
          el('text', { 'class': 'span-label', x: x0 + 4, y: top + 12 }, spans).textContent = s.label;
        }
        first = false;
      });
    });
    drawAxis(g, svg);
    var lanes = el('g', { 'class': 'lanes' }, svg);
    D.nodes.forEach(function (n) {
      el('line', { 'class': 'lane', 'data-node': n, x1: 0, x2: g.w, y1: yOf(n), y2: yOf(n) }, lanes);
    });
    var cs = el('g', { 'class': 'critical-sections' }, svg);
    D.cs.forEach(function (c, k) {
      var x0 = g.xt(c[1]), x1 = Math.max(g.xt(c[2]), x0 + 3);
      el('rect', { 'class': 'cs', x: x0, y: yOf(c[0]) - 5, width: x1 - x0, height: 10, rx: 2, 'data-k': 'c' + k }, cs);
    });
    var msgs = el('g', { 'class': 'msgs' }, svg);
    var arrows = 0, dropped = 0;
    D.msgs.forEach(function (m, k) {
      var s = D.ev[m[0]], x1 = g.x(m[0]), y1 = yOf(s[0]), colour = D.colours[m[2]];
      var grp = el('g', { 'class': 't' + m[2], 'data-k': 'm' + k }, msgs);
      if (m[1] >= 0) {
        var r = D.ev[m[1]], x2 = g.x(m[1]), y2 = yOf(r[0]);
        el('line', { 'class': 'hit', x1: x1, y1: y1, x2: x2, y2: y2 }, grp);
        el('line', { 'class': 'msg', 'data-arrow': 'delivered', x1: x1, y1: y1, x2: x2, y2: y2, stroke: colour, 'marker-end': 'url(#arrow-' + m[2] + ')' }, grp);
        arrows++;
      } else {
        var yt = m[3] in laneIndex ? yOf(m[3]) : y1 + LANE;
        var ym = y1 + (yt - y1) * 0.55, xm = x1 + 16;
        el('line', { 'class': 'hit', x1: x1, y1: y1, x2: xm, y2: ym }, grp);
        el('line', { 'class': 'msg dropped', 'data-arrow': 'dropped', x1: x1, y1: y1, x2: xm, y2: ym, stroke: colour }, grp);
        el('path', { 'class': 'drop-x', d: 'M' + (xm - 4) + ',' + (ym - 4) + 'l8,8M' + (xm - 4) + ',' + (ym + 4) + 'l8,-8' }, grp);
        dropped++;
      }
    });
    var paired = {};
    D.msgs.forEach(function (m) { if (m[1] >= 0) { paired[m[1]] = true; } });
    var evs = el('g', { 'class': 'events' }, svg);
    var lastLabel = {};
    D.ev.forEach(function (e, i) {
      var x = g.x(i), y = yOf(e[0]), kind = e[3], key = 'e' + i;
      if (kind === 'send') {
        var ti = typeIndex[e[4]];
        el('circle', { 'class': 'send t' + ti, cx: x, cy: y, r: 2.6, fill: D.colours[ti], 'data-k': key }, evs);
      } else if (kind === 'recv' && !paired[i]) {
        // A receive whose send is not in the traces (e.g. cut off by a SIGKILL mid-write).
        el('circle', { cx: x, cy: y, r: 3.5, fill: '#fff', stroke: '#555', 'data-k': key }, evs);
      } else if (kind === 'timer') {
        el('line', { 'class': 'timer', x1: x, x2: x, y1: y - 5, y2: y + 5, 'data-k': key }, evs);
      } else if (kind === 'event') {
        el('path', { d: 'M' + x + ',' + (y - 7) + 'l7,7l-7,7l-7,-7z', fill: eventColour(e[4]), stroke: '#333', 'stroke-width': 0.6, 'data-k': key }, evs);
        label(e[4] + labelData(e), x, y, e[0]);
      } else if (kind === 'start') {
        el('path', { d: 'M' + (x - 5) + ',' + (y - 7) + 'l12,7l-12,7z', fill: '#2e7d32', 'data-k': key }, evs);
        label(e[4], x, y, e[0]);
      } else if (kind === 'stop') {
        el('rect', { x: x - 5, y: y - 5, width: 10, height: 10, fill: '#333', 'data-k': key }, evs);
        label('stop', x, y, e[0]);
      } else if (kind === 'command') {
        el('circle', { cx: x, cy: y, r: 5, fill: '#7b1fa2', 'data-k': key }, evs);
        label(e[4], x, y, e[0]);
      } else if (kind === 'malformed') {
        el('text', { x: x - 3, y: y + 5, fill: '#d62728', 'font-weight': 700, 'data-k': key }, evs).textContent = '!';
      }
      var ev = evidence[e[0] + ':' + e[2]];
      if (ev) {
        el('circle', { 'class': 'evidence-ring', id: 'ev-' + e[0] + '-' + e[2], cx: x, cy: y, r: 10, 'data-k': key }, evs);
      }
    });
    function labelData(e) {
      var m = /"(leader|resource|term)":("?)([^",}]*)/.exec(e[5] || '');
      return m ? ' ' + m[3] : '';
    }
    // Event names above the lane, skipped where they would overlap the previous one.
    function label(text, x, y, node) {
      var width = text.length * 6 + 8;
      if (lastLabel[node] !== undefined && x < lastLabel[node]) { return; }
      lastLabel[node] = x + width;
      el('text', { 'class': 'ev-label', x: x - 4, y: y - 11 }, evs).textContent = text;
    }
    labels.style.height = height + 'px';
    labels.textContent = '';
    D.nodes.forEach(function (n, i) {
      var d = document.createElement('div');
      d.style.top = (TOP + i * LANE) + 'px';
      d.style.height = LANE + 'px';
      d.textContent = 'node ' + n;
      labels.appendChild(d);
    });
    svg.setAttribute('data-lanes', String(D.nodes.length));
    svg.setAttribute('data-arrows', String(arrows));
    svg.setAttribute('data-dropped', String(dropped));
    return { lanes: D.nodes.length, arrows: arrows, dropped: dropped };
  }

  function tipText(key) {
    var i = +key.slice(1), lines = [];
    if (key[0] === 'm') {
      var m = D.msgs[i], s = D.ev[m[0]];
      lines.push(D.types[m[2]] + ': node ' + s[0] + ' → node ' + m[3]);
      lines.push('sent at ' + seconds(s[1]) + ' (lc ' + s[2] + ')');
      if (m[1] >= 0) {
        var r = D.ev[m[1]];
        lines.push('received at ' + seconds(r[1]) + ' (lc ' + r[2] + '), ' + duration(r[1] - s[1]) + ' later');
      } else {
        lines.push('not delivered: no receive in the traces (dropped, the addressee was down, or still in flight at the end)');
      }
      if (s[5]) { lines.push('body: ' + s[5]); }
    } else if (key[0] === 'e') {
      var e = D.ev[i];
      lines.push('node ' + e[0] + ' · ' + e[3] + ' ' + e[4]);
      lines.push(seconds(e[1]) + ' · lc ' + e[2] + ' · event #' + i);
      if (e[5]) { lines.push(e[3] === 'send' ? 'body: ' + e[5] : e[5]); }
      var ev = evidence[e[0] + ':' + e[2]];
      if (ev) { lines.push('evidence for: ' + ev.join(', ')); }
    } else if (key[0] === 'f') {
      var f = D.spans[i];
      lines.push(f.label);
      lines.push(seconds(f.t0) + ' – ' + seconds(f.t1));
      lines.push(f.detail);
    } else if (key[0] === 'k') {
      var mark = D.marks[i];
      lines.push(mark.label + ' at ' + seconds(mark.t));
    } else if (key[0] === 'c') {
      var c = D.cs[i];
      lines.push('node ' + c[0] + ' in the critical section' + (c[3] ? ' of ' + c[3] : ''));
      lines.push(seconds(c[1]) + ' – ' + seconds(c[2]) + ' (' + duration(c[2] - c[1]) + ')');
    }
    return lines.join('\n');
  }

  svg.addEventListener('mousemove', function (ev) {
    var target = ev.target.closest ? ev.target.closest('[data-k]') : null;
    if (!target) { tip.hidden = true; return; }
    tip.textContent = tipText(target.getAttribute('data-k'));
    tip.hidden = false;
    var x = ev.clientX + 14, y = ev.clientY + 14;
    if (x + tip.offsetWidth > window.innerWidth - 8) { x = ev.clientX - tip.offsetWidth - 14; }
    if (y + tip.offsetHeight > window.innerHeight - 8) { y = ev.clientY - tip.offsetHeight - 14; }
    tip.style.left = x + 'px';
    tip.style.top = y + 'px';
  });
  svg.addEventListener('mouseleave', function () { tip.hidden = true; });

  // Zoom keeps the point under the cursor (or the middle of the view) where it is.
  function setZoom(zoom, anchorX) {
    var limit = state.axis === 'time' ? [1, 5000] : [0.1, 20];
    zoom = Math.min(limit[1], Math.max(limit[0], zoom));
    var anchor = anchorX === undefined ? scroller.clientWidth / 2 : anchorX;
    var frac = (scroller.scrollLeft + anchor) / Math.max(svg.clientWidth || geometry().w, 1);
    state.zoom = zoom;
    var g = render();
    scroller.scrollLeft = frac * geometry().w - anchor;
    return g;
  }
  document.querySelectorAll('[data-zoom]').forEach(function (b) {
    b.addEventListener('click', function () {
      var how = b.getAttribute('data-zoom');
      if (how === 'fit') { setZoom(state.axis === 'time' ? 1 : Math.max(0.1, (scroller.clientWidth - LEFT - RIGHT) / (GAP * Math.max(D.ev.length, 1)))); }
      else { setZoom(state.zoom * (how === 'in' ? 2 : 0.5)); }
    });
  });
  scroller.addEventListener('wheel', function (ev) {
    if (!ev.ctrlKey) { return; }
    ev.preventDefault();
    var rect = scroller.getBoundingClientRect();
    setZoom(state.zoom * (ev.deltaY < 0 ? 1.25 : 0.8), ev.clientX - rect.left);
  }, { passive: false });
  document.querySelectorAll('input[name="axis"]').forEach(function (r) {
    r.addEventListener('change', function () {
      if (!r.checked) { return; }
      state.axis = r.value;
      state.zoom = 1;
      render();
    });
  });
  var sheet = document.createElement('style');
  document.head.appendChild(sheet);
  function typeFilter() {
    var rules = [];
    document.querySelectorAll('input[data-type]').forEach(function (c) {
      if (!c.checked) { rules.push('#diagram .t' + c.getAttribute('data-type') + ' { display: none; }'); }
    });
    sheet.textContent = rules.join('\n');
  }
  document.querySelectorAll('input[data-type]').forEach(function (c) { c.addEventListener('change', typeFilter); });
  document.getElementById('show-timers').addEventListener('change', function (ev) { svg.classList.toggle('hide-timers', !ev.target.checked); });
  document.getElementById('show-labels').addEventListener('change', function (ev) { svg.classList.toggle('hide-labels', !ev.target.checked); });

  // Evidence links: bring the event into view, zoomed in enough to see it, and make it pulse.
  document.querySelectorAll('a.evidence-link').forEach(function (a) {
    a.addEventListener('click', function (ev) {
      ev.preventDefault();
      var i = eventAt[a.getAttribute('data-node') + ':' + a.getAttribute('data-lc')];
      document.getElementById('diagram-section').scrollIntoView({ behavior: 'smooth' });
      if (i === undefined) { return; }
      if (state.axis === 'time' && state.zoom < 8) { state.zoom = 8; render(); }
      var g = geometry(), x = g.x(i), y = yOf(D.ev[i][0]);
      scroller.scrollLeft = x - scroller.clientWidth / 2;
      var ring = el('circle', { 'class': 'focus-ring', cx: x, cy: y, r: 14 }, svg);
      setTimeout(function () { ring.remove(); }, 3200);
    });
  });

  var drawn = render();
  var status = document.getElementById('report-status');
  status.setAttribute('data-lanes', String(drawn.lanes));
  status.setAttribute('data-arrows', String(drawn.arrows));
  status.setAttribute('data-dropped', String(drawn.dropped));
  status.setAttribute('data-events', String(D.ev.length));
  status.setAttribute('data-errors', String(window.__reportErrors.length));
  status.setAttribute('data-status', window.__reportErrors.length ? 'errors' : 'rendered');

  // With #selftest in the address, every control is used once and the outcome recorded in
  // #report-status, so a headless browser test covers the interactive parts too.
  if (location.hash === '#selftest') {
    var problems = [];
    var first = svg.querySelector('[data-k]');
    if (first) {
      first.dispatchEvent(new MouseEvent('mousemove', { bubbles: true, clientX: 20, clientY: 20 }));
      if (tip.hidden || !tip.textContent) { problems.push('no tooltip'); }
    }
    document.querySelector('input[name="axis"][value="order"]').click();
    if (svg.querySelectorAll('[data-arrow="delivered"]').length !== drawn.arrows) { problems.push('arrows lost on the event-order axis'); }
    document.querySelector('[data-zoom="in"]').click();
    document.querySelector('[data-zoom="fit"]').click();
    document.querySelector('input[name="axis"][value="time"]').click();
    document.querySelector('[data-zoom="in"]').click();
    document.querySelectorAll('input[data-type]').forEach(function (c) { c.click(); });
    if (!/display: none/.test(sheet.textContent) && D.types.length) { problems.push('type filter did nothing'); }
    document.querySelectorAll('input[data-type]').forEach(function (c) { c.click(); });
    document.getElementById('show-timers').click();
    document.getElementById('show-labels').click();
    var link = document.querySelector('a.evidence-link');
    if (link) { link.click(); }
    var errors = window.__reportErrors.length;
    status.setAttribute('data-errors', String(errors));
    status.setAttribute('data-selftest', errors || problems.length ? 'failed: ' + problems.concat(window.__reportErrors).join('; ') : 'passed');
  }
})();
