'use strict';
'require view';
'require form';
'require rpc';
'require poll';
'require ui';
'require uci';
'require dom';

var INCLUDE_PATH = '/usr/share/natnow/fw4.include';

/* no `expect`: rpc.js then resolves with the bare ubus status when rpcd answers one instead of data (ask() below) */
var callStatus = rpc.declare({ object: 'natnow', method: 'status' });
var callPlan = rpc.declare({ object: 'natnow', method: 'plan' });
var callApply = rpc.declare({ object: 'natnow', method: 'apply' });
var callDismiss = rpc.declare({ object: 'natnow', method: 'dismiss' });

function statusText(code) {
	switch (code) {
	case 5: return _('natnow gave no answer (ubus status 5, no data). See "logread -e natnow" on the router.');
	case 6: return _('Permission denied (ubus status 6).');
	case 7: return _('natnow did not answer in time (ubus status 7, request timeout).');
	default: return _('The call failed with ubus status %d.').format(code);
	}
}

/* an error's first line: LuCI appends stack lines to the messages it raises */
function firstLine(e) {
	return String((e && e.message != null) ? e.message : e).split(/\n/)[0];
}

/* calls natnow through rpcd: the answer is a JSON object, or the promise rejects with a message a user can read */
function ask(call) {
	return call().then(function(r) {
		if (typeof r == 'number')
			throw new Error(statusText(r));
		if (r == null || typeof r != 'object' || Array.isArray(r))
			throw new Error(_('natnow answered something that is not a JSON object.'));
		if (r.ok === false && r.error)
			throw new Error(r.error);
		return r;
	}, function(e) {
		throw new Error(firstLine(e));
	});
}

function closeButton() {
	return E('div', { 'class': 'right' }, [
		E('button', { 'class': 'btn', 'click': ui.hideModal }, _('Close'))
	]);
}

function errorList(errors) {
	if (!errors || !errors.length)
		return '';
	return E('ul', { 'class': 'natnow-errors' }, errors.map(function(e) {
		return E('li', {}, e);
	}));
}

function counts(r) {
	if (!r.result)
		return _('nothing reset');
	if (r.result.backend == 'kmod')
		return _('armed %d, revoked %d').format(r.result.armed, r.result.revoked);
	return _('renewed %d, revoked %d').format(r.result.renewed, r.result.revoked);
}

function ago(time) {
	var s = Math.max(0, Math.round((Date.now() - time) / 1000));
	if (s < 90)
		return _('%d s ago').format(s);
	if (s < 5400)
		return _('%d min ago').format(s / 60);
	if (s < 129600)
		return _('%d h ago').format(s / 3600);
	return new Date(time).toLocaleString();
}

/* what a run did, in words */
function summary(r) {
	if (!r.ok && r.errors.length && !r.result)
		return _('failed: %s').format(r.errors[0]);
	if (!r.changes.length)
		return _('no NAT change, nothing reset');
	return _('%s for %s').format(counts(r), r.changes.join('; '));
}

function changeCounts(c) {
	var parts = [];
	if (c.armed)
		parts.push(_('armed %d').format(c.armed));
	if (c.renewed)
		parts.push(_('renewed %d').format(c.renewed));
	if (c.revoked == null)
		parts.push(_('revoked (counted for the whole run)'));
	else if (c.revoked)
		parts.push(_('revoked %d').format(c.revoked));
	return parts.length ? parts.join(', ') : _('no flow');
}

/* what a routing change did to the flows leaving by one mwan3 interface */
function failoverText(f) {
	var text = _('%s: moved %d to %s, kept %d').format(f.wan, f.moved, f.to.length ? f.to.join(', ') : '-', f.kept);
	if (f.unclear)
		text += ', ' + _('left alone (unclear) %d').format(f.unclear);
	return text;
}

function runDetails(r) {
	var byChange = (r.result && r.result.byChange) || [];
	ui.showModal(_('Run at %s').format(new Date(r.time).toLocaleString()), [
		E('p', {}, [ E('strong', {}, _('Trigger')), ': ', r.trigger ]),
		E('p', {}, [ E('strong', {}, _('Backend')), ': ', r.backend || _('none'), r.reason ? ' (' + r.reason + ')' : '' ]),
		E('p', {}, [ E('strong', {}, _('Flows')), ': ', counts(r), ' ', _('in %d ms').format(r.durationMs) ]),
		r.changes.length ? E('ul', { 'class': 'natnow-run-changes' }, r.changes.map(function(c) {
			var n = byChange.filter(function(x) { return x.change == c; })[0];
			return E('li', {}, [ c, ': ', n ? changeCounts(n) : _('no flow') ]);
		})) : E('p', {}, _('No NAT change.')),
		(r.failover || []).length ? E('div', { 'class': 'natnow-run-failover' }, [
			E('strong', {}, _('Multi-WAN (mwan3)')),
			E('ul', {}, r.failover.map(function(f) { return E('li', {}, failoverText(f)); }))
		]) : '',
		errorList(unhandledList(r).concat(r.errors, r.warnings || [], (r.drift || []).map(function(d) { return _('drift: %s').format(d); }))),
		closeButton()
	]);
}

function renderRuns(runs) {
	if (!runs.length)
		return E('p', { 'class': 'natnow-no-runs' }, _('No run recorded yet.'));

	var titles = [ _('Time'), _('Trigger'), _('Changes'), _('Flows'), _('Duration'), _('Errors'), _('Details') ];
	return E('table', { 'class': 'table natnow-runs' }, [
		E('tr', { 'class': 'tr table-titles' }, titles.map(function(t, i) { return E('th', { 'class': 'th' }, i < 6 ? t : ''); }))
	].concat(runs.map(function(r) {
		/* what a run could not read (libuci's parse error, ubusd gone) is shown with its errors */
		var problems = unhandledList(r).concat(r.errors, r.warnings || []);
		var cells = [
			new Date(r.time).toLocaleString(),
			r.trigger,
			(r.changes.length ? r.changes.join('; ') : _('no NAT change')) +
				(r.failover || []).map(function(f) { return '; ' + failoverText(f); }).join(''),
			counts(r),
			_('%d ms').format(r.durationMs),
			problems.length ? problems.join('; ') : _('no error'),
			E('button', { 'class': 'btn cbi-button natnow-details', 'click': function() { runDetails(r); } }, _('Details'))
		];
		return E('tr', { 'class': 'tr' }, cells.map(function(c, i) {
			return E('td', { 'class': 'td', 'data-title': titles[i] }, c);
		}));
	})));
}

function backendHint(st) {
	if (st.available.kmod.ok)
		return _('The kernel module renews flows in the packet path, so even the first packet gets the new NAT.');
	if (st.available.conntrack.ok)
		return _('Install kmod-natnow to renew flows in the packet path instead of deleting their entries.');
	return _('Install conntrack (conntrack-tools) or kmod-natnow: without one of them natnow cannot reset any flow.');
}

function renderError(text) {
	return E('div', { 'class': 'alert-message warning natnow-unavailable' }, text);
}

/* what a run could not act on, each in words */
function unhandledList(r) {
	return (r.unhandled || []).map(function(u) { return _('not acted on: %s').format(u); });
}

/* the NAT changes natnow could not act on: shown until a run handles them or the user dismisses them */
function renderUnhandled(st, view) {
	if (!st.unhandled || !st.unhandled.length)
		return '';
	return E('div', { 'class': 'alert-message warning natnow-unhandled' }, [
		E('p', {}, _('natnow could not act on these NAT changes; connections they concern may keep their old NAT:')),
		E('ul', {}, st.unhandled.map(function(u) { return E('li', {}, u); })),
		E('button', { 'class': 'btn cbi-button natnow-dismiss', 'click': ui.createHandlerFn(view, 'handleDismiss') }, _('Dismiss'))
	]);
}

function renderStatus(st, view) {
	if (st == null || typeof st.available != 'object' || !Array.isArray(st.runs))
		return renderError(_('natnow answered without its status.'));

	var enabled = (st.enabled == null) ? _('unknown (%s)').format(st.switchWhy || '?') : (st.enabled ? _('on') : _('off'));
	var daemon = st.daemon && st.daemon.listening ? _('listening (pid %d)').format(st.daemon.pid)
		: _('not listening: the firewall include runs natnow itself');
	var last = st.runs.filter(function(r) { return !r.dryRun; })[0];

	return E('div', { 'class': 'natnow-status' }, [
		renderUnhandled(st, view),
		E('p', {}, [ E('strong', {}, _('Switch')), ': ', enabled ]),
		E('p', {}, [ E('strong', {}, _('Daemon')), ': ', daemon ]),
		E('p', { 'class': 'natnow-last' }, [ E('strong', {}, _('Last acted')), ': ',
			last ? _('%s (%s): %s').format(ago(last.time), last.trigger, summary(last)) : _('not yet') ]),
		E('p', {}, [ E('strong', {}, _('Backend')), ': ', st.backend || _('none'), ' (', st.reason, ')' ]),
		E('ul', {}, [ 'kmod', 'conntrack', 'procfs' ].map(function(b) {
			return E('li', {}, [ E('code', {}, b), ': ', st.available[b].ok ? _('available') : _('not available'), ' (', st.available[b].why, ')' ]);
		})),
		E('p', { 'class': 'cbi-value-description' }, backendHint(st)),
		E('h4', {}, _('Last runs')),
		renderRuns(st.runs)
	]);
}

function describePlan(p) {
	if (p.off)
		return E('p', {}, _('Instant NAT is switched off.'));
	if (!p.planned || !p.planned.length)
		return E('p', {}, _('No NAT change since the last run: nothing would be reset.'));
	return E('ul', { 'class': 'natnow-plan' }, p.planned.map(function(c) {
		return E('li', {}, [
			c.change,
			c.note ? E('em', {}, [ ' (', c.note, ')' ]) : '',
			E('ul', {}, c.selectors.map(function(s) {
				return E('li', {}, [ s.action == 'renew' ? _('Renew') : _('Revoke'), ': ', s.text ]);
			}))
		]);
	}));
}

/* the firewall include that is natnow's switch: 'natnow', or an anonymous one with natnow's path (as LuCI's firewall app adds it) */
function includeSection() {
	var named = uci.get('firewall', 'natnow');
	if (named && named['.type'] == 'include')
		return 'natnow';
	var found = uci.sections('firewall', 'include').filter(function(s) { return s.path == INCLUDE_PATH; })[0];
	return found ? found['.name'] : null;
}

/*
 * Writes an option only when the user changed it; an option the config does
 * not have counts as its default, as natnow and fw4 read it. (form.js's own
 * parse re-sets every Flag and deletes a ListValue left at its default.)
 */
function writeIfChanged(section_id) {
	if (!this.isActive(section_id))
		return Promise.resolve();
	var stored = this.cfgvalue(section_id), value = this.formvalue(section_id);
	if (stored == null)
		stored = this.default;
	return Promise.resolve(value == stored ? null : this.write(section_id, value));
}

return view.extend({
	load: function() {
		return Promise.all([
			ask(callStatus).catch(function(e) { return e; }),
			uci.load('firewall'),
			uci.load('natnow')
		]);
	},

	handlePreview: function() {
		return ask(callPlan).then(function(p) {
			ui.showModal(_('Preview'), [ describePlan(p), errorList(unhandledList(p).concat(p.errors || [])), closeButton() ]);
		}).catch(function(e) {
			ui.addNotification(null, E('p', {}, _('Preview failed: %s').format(firstLine(e))), 'danger');
		});
	},

	/* "Reset now": asks first (LuCI's own footer "Reset" is handleReset and discards form input) */
	handleResetFlows: function() {
		ui.showModal(_('Reset now'), [
			E('p', {}, _('Reset the connections that NAT changes since the last run concern? Never replied flows are renewed, flows of removed forwards are cut.')),
			E('div', { 'class': 'right' }, [
				E('button', { 'class': 'btn', 'click': ui.hideModal }, _('Cancel')),
				' ',
				E('button', { 'class': 'btn cbi-button-action natnow-confirm', 'click': ui.createHandlerFn(this, 'handleApplyConfirmed') }, _('Reset now'))
			])
		]);
	},

	/* one natnow.apply at a time: the button is disabled while it runs, and a second click is ignored */
	handleApplyConfirmed: function() {
		if (this.applying)
			return this.applying;
		var self = this;
		this.applying = ask(callApply).then(function(r) {
			var text = r.off ? _('Instant NAT is switched off.') : _('Done: %s in %d ms.').format(counts(r), r.durationMs);
			ui.showModal(_('Reset now'), [ E('p', { 'class': 'natnow-result' }, text), errorList(unhandledList(r).concat(r.errors || [])), closeButton() ]);
		}).catch(function(e) {
			ui.showModal(_('Reset now'), [ E('p', { 'class': 'natnow-result' }, _('Reset failed: %s').format(firstLine(e))), closeButton() ]);
		}).finally(function() {
			self.applying = null;
		});
		return this.applying;
	},

	/* the user has seen what natnow could not act on: the newest ruleset becomes the baseline */
	handleDismiss: function(ev) {
		var box = ev && ev.target ? ev.target.closest('.natnow-unhandled') : null;
		return ask(callDismiss).then(function() {
			if (box)
				dom.content(box, E('p', {}, _('Dismissed.')));
		}).catch(function(e) {
			ui.addNotification(null, E('p', {}, _('Dismiss failed: %s').format(firstLine(e))), 'danger');
		});
	},

	/* the switch's include section is missing: add it as natnow's uci-defaults does; Save & Apply writes it */
	handleAddInclude: function() {
		uci.add('firewall', 'include', 'natnow');
		uci.set('firewall', 'natnow', 'path', INCLUDE_PATH);
		uci.set('firewall', 'natnow', 'enabled', '1');
		dom.content(this.missingBox, '');
		return this.switchMap.reset();
	},

	/* LuCI's Save: both maps' input, sent once (each Map.save would send every pending change) */
	handleSave: function() {
		var m = this.switchMap, p = this.policyMap;
		return Promise.all([ m.parse(), p.parse() ]).then(function() {
			return uci.save();
		}).then(function() {
			return Promise.all([ m.load(), p.load() ]);
		}).then(function() {
			return Promise.all([ m.reset(), p.reset() ]);
		});
	},

	render: function(data) {
		var status = data[0], m, s, o, self = this;
		var statusBox = E('div', { 'class': 'cbi-section-node' },
			(status instanceof Error) ? renderError(_('Status failed: %s').format(status.message)) : renderStatus(status, this));
		var sid = includeSection();

		this.missingBox = E('div', {}, sid ? '' : E('div', { 'class': 'alert-message warning natnow-no-include' }, [
			E('p', {}, _('/etc/config/firewall has no include section for natnow, so natnow cannot be switched on. Reinstalling natnow adds it; so does this button.')),
			E('button', { 'class': 'btn cbi-button-add natnow-add-include', 'click': ui.createHandlerFn(this, 'handleAddInclude') }, _('Add the include section'))
		]));

		m = this.switchMap = new form.Map('firewall', _('Instant NAT'),
			_('When a port forward, SNAT or masquerade rule is added, changed or removed, connections that already exist keep their old NAT. natnow resets exactly the connections a change concerns, after every firewall reload.'));
		s = m.section(form.NamedSection, sid || 'natnow', 'include');
		o = s.option(form.Flag, 'enabled', _('Apply NAT changes to existing connections'),
			_('Switches natnow on or off (the include section natnow of the firewall configuration).'));
		o.default = '1';
		o.parse = writeIfChanged;

		var p = this.policyMap = new form.Map('natnow', _('Policy'));
		s = p.section(form.NamedSection, 'main', 'natnow');

		o = s.option(form.Flag, 'renew', _('Renew'), _('Renew never replied connections under added or changed rules, so they get the new NAT.'));
		o.default = '1';
		o.parse = writeIfChanged;

		o = s.option(form.Flag, 'revoke', _('Revoke'), _('Cut connections still translated by a removed or changed rule.'));
		o.default = '1';
		o.parse = writeIfChanged;

		o = s.option(form.Flag, 'established', _('Established connections'), _('Also reset connections that have seen replies, under added rules.'));
		o.default = '0';
		o.parse = writeIfChanged;

		o = s.option(form.Flag, 'fallback', _('Fallback'), _('When natnow cannot read a new rule whole, renew every never replied connection the part it reads may concern.'));
		o.default = '1';
		o.parse = writeIfChanged;

		o = s.option(form.DynamicList, 'exclude', _('Excluded rules'), _('Port forwards and NAT rules, by name, that natnow leaves alone.'));
		uci.sections('firewall', 'redirect').concat(uci.sections('firewall', 'nat')).forEach(function(r) {
			if (r.name)
				o.value(r.name);
		});

		o = s.option(form.ListValue, 'backend', _('Backend'), _('How flows are reset. Automatic picks the kernel module, then conntrack-tools, then the procfs file.'));
		o.value('auto', _('Automatic'));
		o.value('kmod', _('Kernel module (kmod-natnow)'));
		o.value('conntrack', _('conntrack-tools'));
		o.value('procfs', _('procfs (by address)'));
		o.default = 'auto';
		o.parse = writeIfChanged;

		o = s.option(form.Value, 'debounce', _('Debounce'), _('Seconds a burst of firewall reloads may last before natnow acts (0 to 60).'));
		o.datatype = 'range(0,60)';
		o.placeholder = '2';

		o = s.option(form.Value, 'kmod_ttl', _('Kernel module renew time'), _('Seconds the kernel module renews stale flows after a change; 0 means the longest unreplied timeout.'));
		o.datatype = 'uinteger';
		o.placeholder = '0';

		o = s.option(form.Flag, 'procfs_collateral', _('Allow deletes by address'), _('Let the procfs backend delete every connection of an address; other connections of that host are cut too.'));
		o.default = '0';
		o.parse = writeIfChanged;

		poll.add(function() {
			return ask(callStatus).then(function(st) {
				dom.content(statusBox, renderStatus(st, self));
			}).catch(function(e) {
				dom.content(statusBox, renderError(_('Status failed: %s').format(firstLine(e))));
			});
		}, 5);

		return Promise.all([ m.render(), p.render() ]).then(function(maps) {
			return E('div', {}, [
				self.missingBox,
				maps[0],
				E('div', { 'class': 'cbi-section' }, [
					E('h3', {}, _('Status')),
					statusBox,
					E('div', { 'class': 'right' }, [
						E('button', { 'class': 'btn cbi-button natnow-preview', 'click': ui.createHandlerFn(self, 'handlePreview') }, _('Preview')),
						' ',
						E('button', { 'class': 'btn cbi-button-action natnow-reset', 'click': ui.createHandlerFn(self, 'handleResetFlows') }, _('Reset now'))
					])
				]),
				maps[1]
			]);
		});
	}
});
