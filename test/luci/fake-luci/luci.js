/*
 * FAKE LuCI client runtime for luci-app-natnow's browser test: a stand-in
 * for luci-base that implements only what the natnow view uses, following
 * luci-base's API (view.extend, form.Map/NamedSection/Flag/ListValue/Value/
 * DynamicList, rpc.declare, poll.add, ui.showModal/hideModal/addNotification/
 * createHandlerFn, uci.load/get/set/sections, dom.content, E, _ and
 * String.prototype.format). UCI data and rpcd replies come from the test
 * (window.__uci, window.__rpcd); what the page writes is recorded in
 * window.__uciWrites and window.__rpcCalls.
 */
'use strict';

(function () {
	var translations = {};

	window._ = function (s) { return translations[s] || s; };

	String.prototype.format = function () {
		var args = arguments, i = 0;
		return this.replace(/%([sd])/g, function (_m, t) {
			var v = args[i++];
			return t === 'd' ? String(Math.floor(Number(v))) : String(v);
		});
	};

	window.E = function (tag, attrs, children) {
		var el = document.createElement(tag);
		attrs = attrs || {};
		Object.keys(attrs).forEach(function (k) {
			var v = attrs[k];
			if (typeof v === 'function' && k !== 'class') el.addEventListener(k, v);
			else if (v !== null && v !== undefined) el.setAttribute(k, v);
		});
		append(el, children);
		return el;
	};

	function append(el, children) {
		if (children === undefined || children === null || children === '') return;
		if (!Array.isArray(children)) children = [children];
		children.forEach(function (c) {
			if (c === undefined || c === null || c === '') return;
			if (Array.isArray(c)) append(el, c);
			else el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
		});
	}

	var dom = {
		content: function (node, children) {
			while (node.firstChild) node.removeChild(node.firstChild);
			append(node, children);
			return node;
		}
	};

	/* uci: the configs the test provides, and the writes the page makes */
	window.__uciWrites = [];
	var uci = {
		load: function (config) {
			if (!window.__uci[config]) return Promise.reject(new Error('uci: no config ' + config));
			return Promise.resolve(config);
		},
		get: function (c, s, o) {
			var sec = (window.__uci[c] || {})[s];
			if (!sec) return null;
			return o === undefined ? sec['.type'] : sec[o];
		},
		set: function (c, s, o, v) {
			window.__uciWrites.push([c, s, o, v]);
			window.__uci[c][s][o] = v;
		},
		unset: function (c, s, o) {
			window.__uciWrites.push([c, s, o, null]);
			delete window.__uci[c][s][o];
		},
		sections: function (c, type) {
			var conf = window.__uci[c] || {};
			return Object.keys(conf).filter(function (n) { return !type || conf[n]['.type'] === type; })
				.map(function (n) { return Object.assign({ '.name': n }, conf[n]); });
		}
	};

	/* rpc: replies the test recorded from the real natnow, per object and method */
	window.__rpcCalls = [];
	var rpc = {
		declare: function (opts) {
			return function () {
				window.__rpcCalls.push(opts.object + '.' + opts.method);
				var obj = window.__rpcd[opts.object];
				if (!obj || !(opts.method in obj))
					return Promise.reject(new Error('Object not found'));
				return Promise.resolve(JSON.parse(JSON.stringify(obj[opts.method])));
			};
		}
	};

	var poll = {
		add: function (fn, interval) {
			setTimeout(fn, 0);
			setInterval(fn, (interval || 5) * 1000);
		}
	};

	var ui = {
		showModal: function (title, children) {
			ui.hideModal();
			var m = E('div', { 'id': 'modal_overlay' }, E('div', { 'class': 'modal' }, [ E('h4', {}, title), children ]));
			document.body.appendChild(m);
			return m;
		},
		hideModal: function () {
			var m = document.getElementById('modal_overlay');
			if (m) m.parentNode.removeChild(m);
		},
		addNotification: function (title, children) {
			document.getElementById('notifications').appendChild(E('div', { 'class': 'alert-message' }, [ title ? E('h4', {}, title) : '', children ]));
		},
		createHandlerFn: function (ctx, fn) {
			var f = typeof fn === 'string' ? ctx[fn] : fn;
			return function (ev) { return f.call(ctx, ev); };
		}
	};

	/* form: renders options as plain widgets; Map.save() writes what changed */
	var maps = [];

	function cbid(opt) { return 'cbid.' + opt.section.map.config + '.' + opt.section.name + '.' + opt.option; }

	function Option(section, option, title, description) {
		this.section = section;
		this.option = option;
		this.title = title;
		this.description = description;
		this.choices = [];
	}
	Option.prototype.value = function (key, label) { this.choices.push([ key, label === undefined ? key : label ]); };
	Option.prototype.cfgvalue = function () {
		var v = uci.get(this.section.map.config, this.section.name, this.option);
		return v === undefined || v === null ? this.default : v;
	};
	Option.prototype.row = function (widget) {
		return E('div', { 'class': 'cbi-value', 'data-name': this.option }, [
			E('label', { 'class': 'cbi-value-title', 'for': cbid(this) }, this.title),
			E('div', { 'class': 'cbi-value-field' }, [ widget, this.description ? E('div', { 'class': 'cbi-value-description' }, this.description) : '' ])
		]);
	};
	Option.prototype.write = function (v) {
		var old = uci.get(this.section.map.config, this.section.name, this.option);
		if (JSON.stringify(old === undefined ? null : old) === JSON.stringify(v)) return;
		if (v === null) uci.unset(this.section.map.config, this.section.name, this.option);
		else uci.set(this.section.map.config, this.section.name, this.option, v);
	};

	function Flag() { Option.apply(this, arguments); }
	Flag.prototype = Object.create(Option.prototype);
	Flag.prototype.render = function () {
		var on = this.cfgvalue() === '1';
		return this.row(E('input', on ? { 'type': 'checkbox', 'id': cbid(this), 'checked': 'checked' } : { 'type': 'checkbox', 'id': cbid(this) }));
	};
	/* like LuCI's AbstractValue.parse: write when the form value differs from the stored one */
	Flag.prototype.save = function () {
		this.write(document.getElementById(cbid(this)).checked ? '1' : '0');
	};

	function ListValue() { Option.apply(this, arguments); }
	ListValue.prototype = Object.create(Option.prototype);
	ListValue.prototype.render = function () {
		var cur = this.cfgvalue();
		return this.row(E('select', { 'id': cbid(this) }, this.choices.map(function (c) {
			return E('option', c[0] === cur ? { 'value': c[0], 'selected': 'selected' } : { 'value': c[0] }, c[1]);
		})));
	};
	ListValue.prototype.save = function () {
		this.write(document.getElementById(cbid(this)).value);
	};

	function Value() { Option.apply(this, arguments); }
	Value.prototype = Object.create(Option.prototype);
	Value.prototype.render = function () {
		var v = uci.get(this.section.map.config, this.section.name, this.option);
		return this.row(E('input', { 'type': 'text', 'id': cbid(this), 'placeholder': this.placeholder || '', 'value': v || '' }));
	};
	Value.prototype.save = function () {
		var v = document.getElementById(cbid(this)).value;
		this.write(v === '' ? null : v);
	};

	function DynamicList() { Option.apply(this, arguments); }
	DynamicList.prototype = Object.create(Option.prototype);
	DynamicList.prototype.render = function () {
		var cur = uci.get(this.section.map.config, this.section.name, this.option) || [];
		var id = cbid(this);
		var list = E('div', { 'id': id, 'class': 'cbi-dynlist' }, cur.map(function (v) { return E('div', { 'class': 'item', 'data-value': v }, v); }));
		var add = E('select', { 'class': 'add' }, [ E('option', { 'value': '' }, '-') ].concat(this.choices.map(function (c) {
			return E('option', { 'value': c[0] }, c[1]);
		})));
		add.addEventListener('change', function () {
			if (add.value) list.appendChild(E('div', { 'class': 'item', 'data-value': add.value }, add.value));
			add.value = '';
		});
		return this.row(E('div', {}, [ list, add ]));
	};
	DynamicList.prototype.save = function () {
		var items = Array.prototype.map.call(document.getElementById(cbid(this)).querySelectorAll('.item'), function (i) {
			return i.getAttribute('data-value');
		});
		this.write(items.length ? items : null);
	};

	function NamedSection(map, name, type) {
		this.map = map;
		this.name = name;
		this.type = type;
		this.options = [];
	}
	NamedSection.prototype.option = function (Cls, option, title, description) {
		var o = new Cls(this, option, title, description);
		this.options.push(o);
		return o;
	};
	NamedSection.prototype.render = function () {
		/* like LuCI: a named section that does not exist renders nothing */
		if (uci.get(this.map.config, this.name) !== this.type) return E('div', { 'class': 'cbi-section-missing' });
		return E('div', { 'class': 'cbi-section', 'id': 'cbi-' + this.map.config + '-' + this.name },
			this.options.map(function (o) { return o.render(); }));
	};
	NamedSection.prototype.save = function () {
		if (uci.get(this.map.config, this.name) !== this.type) return;
		this.options.forEach(function (o) { o.save(); });
	};

	function Map(config, title, description) {
		this.config = config;
		this.title = title;
		this.description = description;
		this.sections = [];
	}
	Map.prototype.section = function (Cls, name, type) {
		var s = new Cls(this, name, type);
		this.sections.push(s);
		return s;
	};
	Map.prototype.render = function () {
		maps.push(this);
		return Promise.resolve(E('div', { 'class': 'cbi-map', 'id': 'cbi-' + this.config }, [
			E('h2', {}, this.title),
			this.description ? E('div', { 'class': 'cbi-map-descr' }, this.description) : '',
			this.sections.map(function (s) { return s.render(); })
		]));
	};
	Map.prototype.save = function () {
		this.sections.forEach(function (s) { s.save(); });
		return Promise.resolve();
	};

	var form = { Map: Map, NamedSection: NamedSection, Flag: Flag, ListValue: ListValue, Value: Value, DynamicList: DynamicList };

	var view = {
		extend: function (proto) {
			var v = Object.assign({
				load: function () { return Promise.resolve(); },
				/* LuCI's Save & Apply: every map saves, then the changes go through apply/confirm */
				handleSaveApply: function () {
					return Promise.all(maps.map(function (m) { return m.save(); })).then(function () {
						window.__applied = (window.__applied || 0) + 1;
					});
				}
			}, proto);
			return v;
		}
	};

	var modules = { view: view, form: form, rpc: rpc, poll: poll, ui: ui, uci: uci, dom: dom };

	/* LuCI's loader: the 'require' lines name the modules the view's body gets */
	window.loadView = function (source, tr) {
		translations = tr || {};
		var names = [];
		source.replace(/^'require ([a-z]+)';$/mg, function (_m, n) { names.push(n); });
		var body = new Function(names.join(','), source);
		var v = body.apply(null, names.map(function (n) {
			if (!modules[n]) throw new Error('fake LuCI has no module ' + n);
			return modules[n];
		}));
		window.__view = v;
		return Promise.resolve(v.load()).then(function (data) { return v.render(data); }).then(function (node) {
			document.getElementById('maincontent').appendChild(node);
		});
	};
})();
