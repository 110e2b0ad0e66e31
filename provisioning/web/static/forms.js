// Live feedback only: every rule is enforced by the server, and the forms work without this.
(function () {
  "use strict";
  var uid = document.getElementById("uid");
  var status = document.getElementById("uid-status");
  if (uid && status) {
    var timer = null;
    uid.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var value = uid.value.trim();
        if (!value) { status.textContent = ""; return; }
        fetch("/uid-available?uid=" + encodeURIComponent(value), { credentials: "same-origin" })
          .then(function (r) { return r.json(); })
          .then(function (data) {
            status.className = "live " + (data.available ? "ok" : "bad");
            status.textContent = data.message;  // in the page's language, made by the server
          })
          .catch(function () { status.textContent = ""; });
      }, 300);
    });
  }
  var password = document.getElementById("password");
  var policy = document.getElementById("policy");
  if (password && policy) {
    var items = policy.querySelectorAll("li");
    var min = 10;
    var checks = [
      function (p) { return p.length >= min && p.length <= 128; },
      function (p) { return new Set(p).size >= 4; },
      function (p) { return p === p.trim() && !/[\u0000-\u001f\u007f]/.test(p); },
      function (p) { var u = uid ? uid.value.trim().toLowerCase() : ""; return !u || p.toLowerCase().indexOf(u) < 0; }
    ];
    var update = function () {
      var p = password.value;
      for (var i = 0; i < items.length && i < checks.length; i++) {
        items[i].className = p ? (checks[i](p) ? "met" : "unmet") : "";
      }
    };
    password.addEventListener("input", update);
    if (uid) { uid.addEventListener("input", update); }
  }
})();
