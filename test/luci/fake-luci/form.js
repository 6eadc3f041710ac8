/*
 * FAKE LuCI client runtime, part 4 of 4: form.js, written from reading
 * luci-base's form.js (the 24.10 one the router ran), keeping what
 * decides what a page writes:
 *  - options have rmempty = true unless the page says otherwise;
 *  - AbstractValue.parse removes an option whose form value is empty, or
 *    equals its default while rmempty (or optional) is set, and otherwise
 *    writes it only when it differs from the stored value;
 *  - Flag.parse writes its value on every save (removing it when it equals
 *    the default and rmempty is set), changed or not;
 *  - Map.save is parse → uci.save() (every pending change of every config)
 *    → load → re-render; Map.reset re-renders, discarding form input;
 *  - an option is active (parsed) only when its widget is rendered.
 * Widgets are plain HTML controls with LuCI's ids (cbid.config.section.option).
 */
'use strict';

(function () {
	var uci = window.__luci.uci, dom = window.__luci.dom;

	function Option(section, option, title, description) {
		this.section = section;
		this.map = section.map;
		this.option = option;
		this.title = title;
		this.description = description;
		this.rmempty = true;
		this.optional = false;
		this.default = null;
		this.choices = [];
	}
	Option.prototype.cbid = function (sid) { return 'cbid.' + this.map.config + '.' + sid + '.' + this.option; };
	Option.prototype.value = function (key, label) { this.choices.push([ key, label === undefined ? key : label ]); };
	Option.prototype.cfgvalue = function (sid) { return uci.get(this.map.config, sid, this.option); };
	Option.prototype.widget = function (sid) { return this.map.root ? this.map.root.querySelector('[id="' + this.cbid(sid) + '"]') : null; };
	Option.prototype.isActive = function (sid) { return this.widget(sid) !== null; };
	Option.prototype.write = function (sid, v) { return uci.set(this.map.config, sid, this.option, v); };
	Option.prototype.remove = function (sid) { return uci.unset(this.map.config, sid, this.option); };
	Option.prototype.formvalue = function (sid) { return this.widget(sid).value; };
	Option.prototype.parse = function (sid) {
		if (!this.isActive(sid)) return Promise.resolve(this.retain ? undefined : this.remove(sid));
		var cval = this.cfgvalue(sid), fval = this.formvalue(sid);
		if (fval == null || fval == '' || (fval == this.default && (this.optional || this.rmempty))) {
			if (this.rmempty || this.optional) return Promise.resolve(this.remove(sid));
			return Promise.reject(new TypeError('Option "' + this.title + '" must not be empty.'));
		}
		if (this.forcewrite || JSON.stringify(cval) !== JSON.stringify(fval)) return Promise.resolve(this.write(sid, fval));
		return Promise.resolve();
	};
	Option.prototype.row = function (sid, widget) {
		return E('div', { 'class': 'cbi-value', 'data-name': this.option, 'id': 'cbi-' + this.map.config + '-' + sid + '-' + this.option }, [
			E('label', { 'class': 'cbi-value-title', 'for': this.cbid(sid) }, this.title),
			E('div', { 'class': 'cbi-value-field' }, [ widget, this.description ? E('div', { 'class': 'cbi-value-description' }, this.description) : '' ])
		]);
	};
	Option.prototype.current = function (sid) {
		var v = this.cfgvalue(sid);
		return v != null ? v : this.default;
	};
	Option.prototype.render = function (sid) {
		var v = this.cfgvalue(sid);
		return this.row(sid, E('input', { 'type': 'text', 'id': this.cbid(sid), 'placeholder': this.placeholder || null, 'value': v != null ? v : (this.default || '') }));
	};

	function subclass(proto) {
		var C = function () { Option.apply(this, arguments); this.init(); };
		C.prototype = Object.create(Option.prototype);
		C.prototype.init = function () {};
		Object.keys(proto).forEach(function (k) { C.prototype[k] = proto[k]; });
		return C;
	}

	var Value = subclass({});

	var Flag = subclass({
		init: function () { this.enabled = '1'; this.disabled = '0'; this.default = this.disabled; },
		render: function (sid) {
			var on = this.current(sid) == this.enabled;
			return this.row(sid, E('input', { 'type': 'checkbox', 'id': this.cbid(sid), 'checked': on ? 'checked' : null }));
		},
		formvalue: function (sid) { return this.widget(sid).checked ? this.enabled : this.disabled; },
		parse: function (sid) {
			if (!this.isActive(sid)) return Promise.resolve(this.retain ? undefined : this.remove(sid));
			var fval = this.formvalue(sid);
			if (fval == this.default && (this.optional || this.rmempty)) return Promise.resolve(this.remove(sid));
			return Promise.resolve(this.write(sid, fval));
		}
	});

	var ListValue = subclass({
		render: function (sid) {
			var cur = this.current(sid);
			return this.row(sid, E('select', { 'id': this.cbid(sid) }, this.choices.map(function (c) {
				return E('option', { 'value': c[0], 'selected': c[0] == cur ? 'selected' : null }, c[1]);
			})));
		}
	});

	var DynamicList = subclass({
		render: function (sid) {
			var cur = this.cfgvalue(sid) || [], id = this.cbid(sid);
			var list = E('div', { 'id': id, 'class': 'cbi-dynlist' }, cur.map(function (v) { return E('div', { 'class': 'item', 'data-value': v }, v); }));
			var add = E('select', { 'class': 'add' }, [ E('option', { 'value': '' }, '-') ].concat(this.choices.map(function (c) {
				return E('option', { 'value': c[0] }, c[1]);
			})));
			add.addEventListener('change', function () {
				if (add.value) list.appendChild(E('div', { 'class': 'item', 'data-value': add.value }, add.value));
				add.value = '';
			});
			return this.row(sid, E('div', {}, [ list, add ]));
		},
		formvalue: function (sid) {
			return Array.prototype.map.call(this.widget(sid).querySelectorAll('.item'), function (i) { return i.getAttribute('data-value'); });
		}
	});

	function NamedSection(map, name, type) {
		this.map = map;
		this.section = name;
		this.sectiontype = type;
		this.children = [];
	}
	NamedSection.prototype.option = function (Cls, option, title, description) {
		var o = new Cls(this, option, title, description);
		this.children.push(o);
		return o;
	};
	NamedSection.prototype.parse = function () {
		var sid = this.section;
		return Promise.all(this.children.map(function (o) { return o.parse(sid); }));
	};
	/* a named section that does not exist renders an empty section */
	NamedSection.prototype.render = function () {
		var sid = this.section, exists = uci.get(this.map.config, sid) != null;
		return E('div', { 'class': 'cbi-section', 'id': exists ? null : 'cbi-' + this.map.config + '-' + sid },
			exists ? E('div', { 'id': 'cbi-' + this.map.config + '-' + sid, 'data-section-id': sid }, this.children.map(function (o) { return o.render(sid); })) : '');
	};

	function Map(config, title, description) {
		this.config = config;
		this.title = title;
		this.description = description;
		this.children = [];
		this.root = null;
	}
	Map.prototype.section = function (Cls, name, type) {
		var s = new Cls(this, name, type);
		this.children.push(s);
		return s;
	};
	Map.prototype.load = function () { return uci.load([ this.config ]); };
	Map.prototype.parse = function () { return Promise.all(this.children.map(function (s) { return s.parse(); })); };
	Map.prototype.save = function (cb, silent) {
		return this.parse().then(cb).then(function () { return uci.save(); }).then(this.load.bind(this)).catch(function (e) {
			if (!silent) window.__router.alerts.push('Cannot save due to invalid values');
			return Promise.reject(e);
		}).finally(this.renderContents.bind(this));
	};
	Map.prototype.reset = function () { return this.renderContents(); };
	Map.prototype.render = function () { return this.load().then(this.renderContents.bind(this)); };
	Map.prototype.renderContents = function () {
		var el = this.root || (this.root = E('div', { 'id': 'cbi-' + this.config, 'class': 'cbi-map' }));
		dom.bindClassInstance(el, this);
		dom.content(el, [
			this.title ? E('h2', { 'name': 'content' }, this.title) : '',
			this.description ? E('div', { 'class': 'cbi-map-descr' }, this.description) : '',
			this.children.map(function (s) { return s.render(); })
		]);
		return Promise.resolve(el);
	};

	window.__luci.form = { Map: Map, NamedSection: NamedSection, Flag: Flag, ListValue: ListValue, Value: Value, DynamicList: DynamicList };
})();
