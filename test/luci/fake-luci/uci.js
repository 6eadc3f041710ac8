/*
 * FAKE LuCI client runtime, part 3 of 4: uci.js, written from reading
 * luci-base's uci.js. Its quirks are kept: set() records a change even when
 * the value is the same; unset() of an option that does not exist does
 * nothing; save() sends every pending add, set and delete of every loaded
 * config (adds first, then sets, then deletes, one ubus call each) and
 * forgets them only after the answers came, then reloads. The router's
 * side is window.__router.uci (config → section → options, as `ubus call
 * uci get` answers) and every call is recorded in window.__router.uciCalls.
 */
'use strict';

(function () {
	var state = { values: {}, creates: {}, changes: {}, deletes: {}, newidx: 0 };
	var copy = function (x) { return JSON.parse(JSON.stringify(x)); };

	/* the router's uci object: what rpcd's uci plugin does with each call, recorded */
	function remote(method, config, section, arg) {
		var router = window.__router, conf = router.uci[config];
		router.uciCalls.push([ method, config, section, arg === undefined ? null : copy(arg) ]);
		return new Promise(function (resolve) {
			setTimeout(function () {
				if (method === 'add') {
					var name = section || ('cfg' + (1000 + Object.keys(conf).length).toString(16));
					conf[name] = Object.assign({ '.type': arg.type }, arg.values);
					resolve(name);
				}
				else if (method === 'set') {
					Object.assign(conf[section], arg);
					resolve(0);
				}
				else if (method === 'delete') {
					if (arg === null) delete conf[section];
					else arg.forEach(function (o) { delete conf[section][o]; });
					resolve(0);
				}
			}, 5);
		});
	}

	var uci = {
		load: function (packages) {
			packages = Array.isArray(packages) ? packages : [ packages ];
			return new Promise(function (resolve, reject) {
				setTimeout(function () {
					for (var i = 0; i < packages.length; i++) {
						var c = window.__router.uci[packages[i]];
						if (!c) return reject(new Error('uci: no config ' + packages[i]));
						if (!state.values[packages[i]]) {
							var v = {}, idx = 0;
							Object.keys(c).forEach(function (s) { v[s] = Object.assign({ '.name': s, '.index': idx++ }, copy(c[s])); });
							state.values[packages[i]] = v;
						}
					}
					resolve(packages);
				}, 1);
			});
		},
		unload: function (packages) {
			(Array.isArray(packages) ? packages : [ packages ]).forEach(function (p) {
				delete state.values[p];
				delete state.creates[p];
				delete state.changes[p];
				delete state.deletes[p];
			});
		},
		add: function (conf, type, name) {
			var sid = name || ('new' + (state.newidx + 1));
			state.creates[conf] = state.creates[conf] || {};
			state.creates[conf][sid] = { '.type': type, '.name': sid, '.create': name, '.anonymous': !name, '.index': 1000 + state.newidx++ };
			return sid;
		},
		sections: function (conf, type) {
			var v = state.values[conf], n = state.creates[conf], c = state.changes[conf], d = state.deletes[conf], sa = [];
			if (!v) return sa;
			Object.keys(v).forEach(function (s) {
				if ((!d || d[s] !== true) && (!type || v[s]['.type'] == type)) sa.push(Object.assign({}, v[s], c ? c[s] : undefined));
			});
			if (n) Object.keys(n).forEach(function (s) { if (!type || n[s]['.type'] == type) sa.push(Object.assign({}, n[s])); });
			return sa.sort(function (a, b) { return a['.index'] - b['.index']; });
		},
		get: function (conf, sid, opt) {
			var v = state.values, n = state.creates, c = state.changes, d = state.deletes;
			if (sid == null) return null;
			if (n[conf] && n[conf][sid]) return opt == null ? n[conf][sid] : n[conf][sid][opt];
			if (opt != null) {
				if (d[conf] && d[conf][sid]) {
					if (d[conf][sid] === true || d[conf][sid].indexOf(opt) >= 0) return undefined;
				}
				if (c[conf] && c[conf][sid] && c[conf][sid][opt] != null) return c[conf][sid][opt];
				return v[conf] && v[conf][sid] ? v[conf][sid][opt] : undefined;
			}
			return v[conf] ? v[conf][sid] : undefined;
		},
		set: function (conf, sid, opt, val) {
			var v = state.values, n = state.creates, c = state.changes, d = state.deletes;
			if (sid == null || opt == null || opt.charAt(0) == '.') return;
			if (n[conf] && n[conf][sid]) {
				if (val != null) n[conf][sid][opt] = val;
				else delete n[conf][sid][opt];
			}
			else if (val != null && val !== '') {
				if (d[conf] && d[conf][sid] === true) return;
				if (!v[conf] || !v[conf][sid]) return;
				c[conf] = c[conf] || {};
				c[conf][sid] = c[conf][sid] || {};
				if (d[conf] && d[conf][sid]) {
					d[conf][sid] = d[conf][sid].filter(function (o) { return o !== opt; });
					if (!d[conf][sid].length) delete d[conf][sid];
				}
				c[conf][sid][opt] = val;
			}
			else {
				if (!(v[conf] && v[conf][sid] && v[conf][sid].hasOwnProperty(opt)) &&
				    !(c[conf] && c[conf][sid] && c[conf][sid].hasOwnProperty(opt)))
					return;
				d[conf] = d[conf] || {};
				d[conf][sid] = d[conf][sid] || [];
				if (d[conf][sid] !== true) d[conf][sid].push(opt);
			}
		},
		unset: function (conf, sid, opt) { return this.set(conf, sid, opt, null); },
		save: function () {
			var n = state.creates, c = state.changes, d = state.deletes, pkgs = {}, tasks = [];
			Object.keys(n).forEach(function (conf) {
				Object.keys(n[conf]).forEach(function (sid) {
					var p = { type: null, values: {} }, s = n[conf][sid];
					Object.keys(s).forEach(function (k) {
						if (k == '.type') p.type = s[k];
						else if (k.charAt(0) != '.') p.values[k] = s[k];
					});
					tasks.push(remote('add', conf, s['.create'], p));
				});
				pkgs[conf] = true;
			});
			Object.keys(c).forEach(function (conf) {
				Object.keys(c[conf]).forEach(function (sid) { tasks.push(remote('set', conf, sid, c[conf][sid])); });
				pkgs[conf] = true;
			});
			Object.keys(d).forEach(function (conf) {
				Object.keys(d[conf]).forEach(function (sid) { tasks.push(remote('delete', conf, sid, d[conf][sid] === true ? null : d[conf][sid])); });
				pkgs[conf] = true;
			});
			return Promise.all(tasks).then(function () {
				var names = Object.keys(pkgs);
				uci.unload(names);
				return names.length ? uci.load(names) : names;
			});
		}
	};

	window.__luci = window.__luci || {};
	window.__luci.uci = uci;
})();
