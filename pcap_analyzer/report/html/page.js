// pcapan's HTML pages: choose a stream, sort tables, filter frames by label, show an arrow's frame.
// Text from the capture is only ever moved as text (textContent), never as markup.
(function () {
  "use strict";
  var select = document.getElementById("stream-select");

  function showStream(id) {
    var articles = document.querySelectorAll("article.stream");
    if (!articles.length) { return; }
    var found = false;
    articles.forEach(function (a) { if (a.dataset.stream === id) { found = true; } });
    if (!found) { return; }
    articles.forEach(function (a) { a.hidden = a.dataset.stream !== id; });
    document.querySelectorAll("tr.has-diagram").forEach(function (tr) {
      tr.classList.toggle("current", tr.dataset.stream === id);
    });
    if (select && select.value !== id) { select.value = id; }
  }

  if (select) {
    select.addEventListener("change", function () { showStream(select.value); });
    showStream(select.value);
  }
  document.querySelectorAll("tr.has-diagram").forEach(function (tr) {
    tr.addEventListener("click", function () {
      showStream(tr.dataset.stream);
      var target = document.getElementById("conversation");
      if (target) { target.scrollIntoView(); }
    });
  });

  // sortable tables: click a heading; numbers sort as numbers
  function cellValue(tr, k) {
    var td = tr.children[k];
    if (!td) { return ""; }
    return td.dataset.sort !== undefined ? td.dataset.sort : td.textContent;
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.querySelectorAll("thead th");
    heads.forEach(function (th, k) {
      th.addEventListener("click", function () {
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var asc = !th.classList.contains("sorted-asc");
        heads.forEach(function (h) { h.classList.remove("sorted-asc", "sorted-desc"); });
        th.classList.add(asc ? "sorted-asc" : "sorted-desc");
        var keyed = rows.map(function (tr, i) {
          var v = cellValue(tr, k), n = parseFloat(v);
          return { tr: tr, i: i, v: v, n: (v.trim() !== "" && !isNaN(n)) ? n : null };
        });
        keyed.sort(function (a, b) {
          var c;
          if (a.n !== null && b.n !== null) { c = a.n - b.n; }
          else if (a.n !== null) { c = -1; } else if (b.n !== null) { c = 1; }
          else { c = a.v.localeCompare(b.v); }
          if (c === 0) { c = a.i - b.i; return c; }
          return asc ? c : -c;
        });
        var frag = document.createDocumentFragment();
        var page = table.dataset.page ? parseInt(table.dataset.page, 10) : Infinity;
        keyed.forEach(function (x, i) {
          x.tr.hidden = i >= page && !x.tr.classList.contains("has-diagram");
          frag.appendChild(x.tr);
        });
        body.appendChild(frag);
      });
    });
  });

  // a long table shows its first rows until the reader asks for all
  document.querySelectorAll("button.show-all").forEach(function (button) {
    button.addEventListener("click", function () {
      var table = document.getElementById(button.dataset.table);
      if (!table) { return; }
      delete table.dataset.page;
      Array.prototype.forEach.call(table.tBodies[0].rows, function (tr) { tr.hidden = false; });
      var note = document.getElementById(button.dataset.table + "-paging");
      if (note) { note.textContent = "All rows."; }
      button.hidden = true;
    });
  });

  // the label filter of a stream's frame table
  document.querySelectorAll("select.label-filter").forEach(function (sel) {
    sel.addEventListener("change", function () {
      var table = document.getElementById(sel.dataset.table);
      if (!table) { return; }
      var want = sel.value, shown = 0;
      Array.prototype.forEach.call(table.tBodies[0].rows, function (tr) {
        var labels = tr.dataset.labels ? tr.dataset.labels.split(" ") : [];
        var keep = want === "" || (want === "*" ? labels.length > 0 : labels.indexOf(want) >= 0);
        tr.hidden = !keep;
        if (keep) { shown += 1; }
      });
      var count = document.getElementById(sel.dataset.table + "-count");
      if (count) { count.textContent = shown + " frames shown"; }
    });
  });

  // an arrow (or a frame link) shows the frame's row and its explanation
  function showFrame(stream, frame, scroll) {
    var article = document.querySelector('article.stream[data-stream="' + stream + '"]');
    if (!article) { return; }
    showStream(stream);
    article.querySelectorAll("g.arrow.selected, tr.selected").forEach(function (e) { e.classList.remove("selected"); });
    var arrow = article.querySelector('g.arrow[data-frame="' + frame + '"]');
    var row = document.getElementById("f" + stream + "-" + frame);
    if (arrow) { arrow.classList.add("selected"); }
    if (row) { row.classList.add("selected"); }
    var panel = article.querySelector(".detail");
    if (panel) {
      panel.textContent = "";
      var head = document.createElement("strong");
      head.textContent = "Frame " + frame;
      panel.appendChild(head);
      if (row) {
        var dl = document.createElement("dl");
        var names = row.closest("table").querySelectorAll("thead th");
        Array.prototype.forEach.call(row.children, function (td, k) {
          if (!td.textContent) { return; }
          var dt = document.createElement("dt"), dd = document.createElement("dd");
          dt.textContent = names[k] ? names[k].textContent : "";
          dd.textContent = td.textContent;
          dl.appendChild(dt); dl.appendChild(dd);
        });
        panel.appendChild(dl);
      } else if (arrow) {
        var p = document.createElement("p");
        var title = arrow.querySelector("title");
        p.textContent = title ? title.textContent : "";
        panel.appendChild(p);
      } else {
        var q = document.createElement("p");
        q.textContent = "This frame is not drawn in the diagram.";
        panel.appendChild(q);
      }
    }
    if (scroll) {
      var where = arrow || row;
      if (where) { where.scrollIntoView({ block: "center" }); }
    }
  }
  document.querySelectorAll("g.arrow").forEach(function (g) {
    var stream = g.closest("article.stream").dataset.stream;
    g.addEventListener("click", function () { showFrame(stream, g.dataset.frame, false); });
    g.addEventListener("focus", function () { showFrame(stream, g.dataset.frame, false); });
    g.addEventListener("mouseenter", function () { showFrame(stream, g.dataset.frame, false); });
  });
  document.querySelectorAll("a.frame-link").forEach(function (a) {
    a.addEventListener("click", function (ev) {
      ev.preventDefault();
      showFrame(a.dataset.stream, a.dataset.frame, true);
    });
  });
})();
