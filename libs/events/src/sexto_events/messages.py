"""What a refusal says, in English and in French: the one catalogue of problem texts.

Quebec partners work in French. A refusal carries a `Message` (a stable code and its
parameters), never a finished sentence; the HTTP edge renders it in the caller's language.
Titles are per kind of problem (the `type` of the answer), details per code. Parameters are
ids, step names and counts — never personal data.
"""

from __future__ import annotations

from collections.abc import Mapping

LANGUAGES = ("en", "fr")
DEFAULT_LANGUAGE = "en"

# The title of each kind of problem (RFC 9457 `title`: the same for every occurrence).
TITLES: Mapping[str, Mapping[str, str]] = {
    "not-found": {"en": "Not found", "fr": "Introuvable"},
    "case-not-found": {"en": "Not found", "fr": "Introuvable"},
    "unknown-student": {"en": "Unknown student", "fr": "Élève inconnu"},
    "unknown-protocol": {"en": "Unknown protocol", "fr": "Protocole inconnu"},
    "forbidden": {"en": "Forbidden", "fr": "Interdit"},
    "invalid-request": {"en": "Invalid request", "fr": "Requête invalide"},
    "invalid-command": {"en": "Invalid request", "fr": "Requête invalide"},
    "invalid-grid": {"en": "Invalid grid", "fr": "Grille invalide"},
    "not-eligible-for-sexto": {
        "en": "Not eligible for SEXTO",
        "fr": "Non admissible au protocole SEXTO",
    },
    "unknown-school": {"en": "Unknown school", "fr": "École inconnue"},
    "unknown-territory": {"en": "Unknown territory", "fr": "Territoire inconnu"},
    "invalid-directory-entry": {
        "en": "Invalid directory entry",
        "fr": "Entrée de répertoire invalide",
    },
    "protocol-not-for-jurisdiction": {
        "en": "Protocol of another jurisdiction",
        "fr": "Protocole d'une autre juridiction",
    },
    "unknown-checklist-step": {
        "en": "Unknown checklist step",
        "fr": "Étape de liste de vérification inconnue",
    },
    "conflict": {"en": "Conflict", "fr": "Conflit"},
    "concurrency-conflict": {"en": "Conflict", "fr": "Conflit"},
    "case-closed": {"en": "Case closed", "fr": "Dossier fermé"},
    "already-registered": {"en": "Already registered", "fr": "Déjà inscrit"},
    "illegal-step": {"en": "Step not allowed now", "fr": "Étape non permise maintenant"},
    "not-an-offender": {
        "en": "No decision about this student",
        "fr": "Aucune décision au sujet de cet élève",
    },
    "closure-pending": {
        "en": "Escalation steps still due",
        "fr": "Étapes d'escalade encore dues",
    },
    "idempotency-key-reused": {
        "en": "Idempotency-Key reused",
        "fr": "Idempotency-Key déjà utilisée",
    },
    "request-in-progress": {"en": "Request in progress", "fr": "Requête en cours"},
    "too-many-writes": {"en": "Too many writes", "fr": "Trop d'écritures"},
    "unavailable": {"en": "Unavailable", "fr": "Indisponible"},
    "unauthorized": {"en": "Unauthorized", "fr": "Non authentifié"},
    "internal-error": {"en": "Internal error", "fr": "Erreur interne"},
    "images-refused": {"en": "Images are refused", "fr": "Les images sont refusées"},
    "json-only": {"en": "JSON only", "fr": "JSON seulement"},
    "too-large": {"en": "Body too large", "fr": "Corps trop volumineux"},
    "malformed-json": {"en": "Malformed JSON", "fr": "JSON mal formé"},
    "bad-cursor": {"en": "Bad cursor", "fr": "Curseur invalide"},
    "http-404": {"en": "Not found", "fr": "Introuvable"},
    "http-405": {"en": "Method not allowed", "fr": "Méthode non permise"},
    "http-401": {"en": "Unauthorized", "fr": "Non authentifié"},
    "http-error": {"en": "HTTP error", "fr": "Erreur HTTP"},
    "not-ready": {"en": "Not ready", "fr": "Pas prêt"},
}

# Details by code: what is wrong and what to do. `{name}` is filled from the parameters.
TEXTS: Mapping[str, Mapping[str, str]] = {
    # not found (404): indistinguishable from a missing one
    "case-not-found": {
        "en": "no case with this id in your scope",
        "fr": "aucun dossier avec cet identifiant dans votre périmètre",
    },
    "case-not-found-any": {
        "en": "no case with this id",
        "fr": "aucun dossier avec cet identifiant",
    },
    "case-not-found-yet": {
        "en": "no case with this id in your scope (a case reported moments ago reaches this "
        "service within a second or so)",
        "fr": "aucun dossier avec cet identifiant dans votre périmètre (un dossier signalé à "
        "l'instant parvient à ce service en une seconde environ)",
    },
    "escalated-case-not-found": {
        "en": "no escalated case with this id in your scope",
        "fr": "aucun dossier escaladé avec cet identifiant dans votre périmètre",
    },
    "unknown-student": {
        "en": "student {student_ref} is not on this case: known refs are {known}",
        "fr": "l'élève {student_ref} n'est pas au dossier : les références connues sont {known}",
    },
    "unknown-student-grid": {
        "en": "student {student_ref} is not on this case; its students are {known}",
        "fr": "l'élève {student_ref} n'est pas au dossier; ses élèves sont {known}",
    },
    "unknown-student-recipient": {
        "en": "student_ref: no student {student_ref} on this case",
        "fr": "student_ref : aucun élève {student_ref} au dossier",
    },
    "unknown-protocol": {
        "en": "no protocol {name} version {version}",
        "fr": "aucun protocole {name} en version {version}",
    },
    "subscription-not-found": {
        "en": "no subscription with this id is yours",
        "fr": "aucun abonnement avec cet identifiant ne vous appartient",
    },
    "delivery-not-found": {
        "en": "no delivery with this id is yours",
        "fr": "aucun envoi avec cet identifiant ne vous appartient",
    },
    "not-found": {"en": "{detail}", "fr": "introuvable : {detail}"},
    # forbidden (403): the role or scope may not do this at all
    "role-not-allowed": {
        "en": "your role ({role}) may not do this: it is for {roles}",
        "fr": "votre rôle ({role}) ne permet pas cette opération : elle est réservée à {roles}",
    },
    "school-staff-report": {
        "en": "only school staff (intervener, safeguarding lead) report cases",
        "fr": "seul le personnel de l'école (intervenant, responsable de la protection) "
        "signale des dossiers",
    },
    "school-staff-facts": {
        "en": "only the school's staff record facts on a case",
        "fr": "seul le personnel de l'école consigne des faits à un dossier",
    },
    "school-staff-grids": {
        "en": "grids are filled in by the school's interveners",
        "fr": "les grilles sont remplies par les intervenants de l'école",
    },
    "school-staff-recipients": {
        "en": "recipients are registered by the school's staff",
        "fr": "les destinataires sont inscrits par le personnel de l'école",
    },
    "admins-directory": {
        "en": "only administrators manage the directory",
        "fr": "seuls les administrateurs gèrent le répertoire",
    },
    "legal-reviewers-only": {
        "en": "the legal review API is for the legal_reviewer role",
        "fr": "l'API de révision juridique est réservée au rôle legal_reviewer",
    },
    "step-roles": {
        "en": "this step is taken by {roles}",
        "fr": "cette étape est franchie par {roles}",
    },
    "queue-police": {
        "en": "the escalation queue is for police and prosecutors",
        "fr": "la file des escalades est réservée aux policiers et aux procureurs",
    },
    "subscribers-only": {
        "en": "subscriptions are made by police_dispatch, school_admin or admin",
        "fr": "les abonnements sont faits par police_dispatch, school_admin ou admin",
    },
    "admin-no-case-filter": {
        "en": "an admin operates deliveries but reads no case: list them without case_id "
        "(by status or subscription)",
        "fr": "un administrateur gère les livraisons sans lire de dossier : listez-les sans "
        "case_id (par statut ou par abonnement)",
    },
    "delivery-owners": {
        "en": "deliveries are seen by their subscription's owner or an admin",
        "fr": "les envois sont vus par le titulaire de leur abonnement ou un administrateur",
    },
    "other-school": {
        "en": "your token's scope is school {school}, not this school",
        "fr": "votre jeton vaut pour l'école {school}, pas pour celle-ci",
    },
    "token-no-territory": {
        "en": "your token names no territory",
        "fr": "votre jeton ne nomme aucun territoire",
    },
    "token-no-school": {
        "en": "your token names no school",
        "fr": "votre jeton ne nomme aucune école",
    },
    "own-territory-only": {
        "en": "you may subscribe to territory {territory} only",
        "fr": "vous ne pouvez vous abonner qu'au territoire {territory}",
    },
    "own-school-only": {
        "en": "you may subscribe to school {school} only",
        "fr": "vous ne pouvez vous abonner qu'à l'école {school}",
    },
    # conflicts (409)
    "case-closed": {
        "en": "the case is closed: nothing more can be recorded on it",
        "fr": "le dossier est fermé : plus rien ne peut y être consigné",
    },
    "case-closed-grids": {
        "en": "the case is closed: its grids can no longer change",
        "fr": "le dossier est fermé : ses grilles ne peuvent plus changer",
    },
    "case-closed-recipients": {
        "en": "the case is closed: no one new is told about it",
        "fr": "le dossier est fermé : personne de plus n'en est informé",
    },
    "already-registered": {
        "en": "{entity} is already registered in the directory",
        "fr": "{entity} est déjà inscrit au répertoire",
    },
    "concurrency-conflict": {
        "en": "{reason}; retry the request",
        "fr": "le dossier {case} a changé pendant le traitement de la requête; "
        "réessayez la requête",
    },
    "delivery-busy": {
        "en": "the delivery is being attempted right now; {verb} it later",
        "fr": "l'envoi est en cours de tentative; réessayez plus tard",
    },
    "delivery-state": {
        "en": "only a {allowed} delivery can be {verb}; this is {state}",
        "fr": "seul un envoi à l'état {allowed} peut l'être; celui-ci est à l'état {state}",
    },
    "recipient-registered": {
        "en": "recipient_ref {recipient_ref} is already registered on this case with other "
        "details; use a new reference",
        "fr": "recipient_ref {recipient_ref} est déjà inscrit à ce dossier avec d'autres "
        "coordonnées; utilisez une nouvelle référence",
    },
    "subscription-deleted": {
        "en": "this Idempotency-Key made a subscription since deleted; use a new key",
        "fr": "cette Idempotency-Key a créé un abonnement supprimé depuis; "
        "utilisez une nouvelle clé",
    },
    "subscription-limit": {
        "en": "you have {limit} subscriptions already, the most one caller may hold: delete "
        "one you no longer use (DELETE /v1/subscriptions/{{id}}) before making another",
        "fr": "vous avez déjà {limit} abonnements, le maximum pour un appelant : supprimez-en "
        "un dont vous n'avez plus l'usage (DELETE /v1/subscriptions/{{id}}) avant d'en créer "
        "un autre",
    },
    "secret-rotation-replayed": {
        "en": "this Idempotency-Key rotated the secret of subscription {subscription} already, "
        "and a secret is shown only once: rotate again with a new Idempotency-Key",
        "fr": "cette Idempotency-Key a déjà renouvelé le secret de l'abonnement {subscription}, "
        "et un secret n'est montré qu'une fois : renouvelez-le de nouveau avec une nouvelle "
        "Idempotency-Key",
    },
    "subscription-rotated": {
        "en": "this Idempotency-Key made subscription {subscription}, whose secret has been "
        "rotated since; see GET /v1/subscriptions",
        "fr": "cette Idempotency-Key a créé l'abonnement {subscription}, dont le secret a été "
        "renouvelé depuis; voir GET /v1/subscriptions",
    },
    # illegal steps (409, with the steps allowed next)
    "step-not-allowed": {
        "en": "{step} is not allowed now (the escalation is at '{status}')",
        "fr": "{step} n'est pas permise maintenant (l'escalade en est à « {status} »)",
    },
    "step-acknowledge": {"en": "acknowledging", "fr": "la prise en charge"},
    "step-collect_kit": {"en": "collecting the kit", "fr": "la collecte de la trousse"},
    "step-consult_prosecutor": {
        "en": "consulting the prosecutor",
        "fr": "la consultation du procureur (DPCP)",
    },
    "step-decide": {"en": "a decision", "fr": "une décision"},
    "decision-unknown-student": {
        "en": "student {student_ref} is not on this case",
        "fr": "l'élève {student_ref} n'est pas au dossier",
    },
    "decision-already-made": {
        "en": "student {student_ref} already has a decision",
        "fr": "l'élève {student_ref} a déjà une décision",
    },
    "referral-needs-uk-escalation": {
        "en": "a referral is recorded on an escalated UK case",
        "fr": "un signalement se consigne sur un dossier britannique escaladé",
    },
    "already-referred": {
        "en": "the case was already referred ({agency})",
        "fr": "le dossier a déjà été signalé ({agency})",
    },
    "meeting-needs-impulsive": {
        "en": "an educational meeting follows an impulsive decision for {student_ref}",
        "fr": "une rencontre éducative suit une décision « impulsif » pour {student_ref}",
    },
    "meeting-not-scheduled": {
        "en": "no meeting was scheduled for {student_ref}",
        "fr": "aucune rencontre n'a été planifiée pour {student_ref}",
    },
    "meeting-already-held": {
        "en": "the meeting for {student_ref} was already held",
        "fr": "la rencontre pour {student_ref} a déjà eu lieu",
    },
    # the case's lifecycle across services (docs/lifecycle.md)
    "decision-not-for-track": {
        "en": "student {student_ref} is on the {track} track: the prosecutor decides about "
        "offender-track students only",
        "fr": "l'élève {student_ref} est sur le parcours « {track} » : le DPCP ne décide "
        "qu'au sujet des élèves sur le parcours « auteur »",
    },
    "escalation-case-closed": {
        "en": "the case is closed: {step} can no longer be recorded (only the prosecutor's "
        "decisions and support offers stay open)",
        "fr": "le dossier est fermé : {step} ne peut plus être consignée (seules les "
        "décisions du DPCP et les offres de soutien restent ouvertes)",
    },
    "step-refer": {"en": "a referral", "fr": "un signalement"},
    "step-meeting": {"en": "a meeting", "fr": "une rencontre"},
    "step-offer_support": {"en": "a support offer", "fr": "une offre de soutien"},
    "referral-agency-name": {
        "en": "name the agency (agency_name) when, and only when, the agency is 'other'",
        "fr": "nommez l'organisme (agency_name) si, et seulement si, l'organisme est « other »",
    },
    "support-already-offered": {
        "en": "{kind} support was already offered to {student_ref}",
        "fr": "le soutien « {kind} » a déjà été offert à {student_ref}",
    },
    "closure-pending": {
        "en": "the case cannot close while escalation steps are due: {pending}",
        "fr": "le dossier ne peut être fermé tant que des étapes d'escalade sont dues : {pending}",
    },
    "allowed-next": {"en": "allowed next: {allowed}", "fr": "étapes permises ensuite : {allowed}"},
    # idempotency
    "idempotency-key-reused": {
        "en": "this Idempotency-Key was already used for a different request: use a new key "
        "for a new request, or resend the first one unchanged",
        "fr": "cette Idempotency-Key a déjà servi pour une autre requête : utilisez une "
        "nouvelle clé pour une nouvelle requête, ou renvoyez la première telle quelle",
    },
    "idempotency-key-missing": {
        "en": "send an Idempotency-Key header: a new value of your own for each new request "
        "(8 to 128 letters, digits, '.', '_', ':' or '-'), e.g. a UUID from python3 -c "
        "'import uuid; print(uuid.uuid4())'; send the same value again to retry it",
        "fr": "envoyez un en-tête Idempotency-Key : une nouvelle valeur de votre choix pour "
        "chaque nouvelle requête (8 à 128 lettres, chiffres, '.', '_', ':' ou '-'), par "
        "exemple un UUID de python3 -c 'import uuid; print(uuid.uuid4())'; renvoyez la même "
        "valeur pour la réessayer",
    },
    "too-many-writes": {
        "en": "you sent more writes than {per_minute} a minute (bursts of {burst}): wait "
        "{seconds} s (Retry-After) and send it again; nothing of this request was recorded",
        "fr": "vous avez envoyé plus de {per_minute} écritures par minute (rafales de {burst}) :"
        " attendez {seconds} s (Retry-After) et renvoyez-la; rien de cette requête n'a été "
        "enregistré",
    },
    "request-in-progress": {
        "en": "a request with this Idempotency-Key is still being carried out; retry in a "
        "moment to get its answer",
        "fr": "une requête avec cette Idempotency-Key est encore en cours; réessayez dans un "
        "instant pour obtenir sa réponse",
    },
    # invalid requests (422)
    "invalid-request": {
        "en": "the request does not match the schema: fix the fields listed in `errors`",
        "fr": "la requête ne respecte pas le schéma : corrigez les champs listés dans `errors`",
    },
    "unknown-school": {
        "en": "school {school} is not in the directory: check the id, or ask an "
        "administrator to register it",
        "fr": "l'école {school} n'est pas au répertoire : vérifiez l'identifiant, ou "
        "demandez à un administrateur de l'inscrire",
    },
    "amendment-needs-reason": {
        "en": "an amended grid needs a reason: say what changed and why",
        "fr": "une grille modifiée exige une raison : dites ce qui a changé et pourquoi",
    },
    "discovered-in-future": {
        "en": "discovered_at is in the future: give when the staff member learnt of it",
        "fr": "discovered_at est dans le futur : indiquez quand le membre du personnel l'a appris",
    },
    "students-not-distinct": {
        "en": "each student appears once: student_ref values must be distinct",
        "fr": "chaque élève n'apparaît qu'une fois : les valeurs de student_ref doivent être "
        "distinctes",
    },
    "student-already-on-case": {
        "en": "student {student_ref} is already on the case",
        "fr": "l'élève {student_ref} est déjà au dossier",
    },
    "seal-already-recorded": {
        "en": "seal number {seal} is already recorded on this case",
        "fr": "le sac scellé numéro {seal} est déjà consigné à ce dossier",
    },
    "unknown-step": {
        "en": "step {step!r} is not in this case's protocol version; its steps are {steps}",
        "fr": "l'étape {step!r} n'est pas dans la version du protocole de ce dossier; ses "
        "étapes sont {steps}",
    },
    "no-agreement-in-force": {
        "en": "the police force of territory {territory} had no agreement with the DPCP in "
        "force on {on}, so the SEXTO kit cannot be used; instead, call 911 directly if a "
        "student may be in danger or to report the situation to the police, and follow your "
        "school board's own procedure",
        "fr": "le service de police du territoire {territory} n'avait aucune entente avec le "
        "DPCP en vigueur le {on}; la trousse SEXTO ne peut donc pas être utilisée : "
        "appelez plutôt directement le 911 si un élève peut être en danger ou pour signaler "
        "la situation à la police, et suivez la procédure de votre centre de services "
        "scolaire",
    },
    "intervener-not-certified": {
        "en": "the reporting intervener holds no SEXTO certification for this school: "
        "complete the online training (Explorer or Architect level) or ask a certified "
        "colleague to report; meanwhile, call 911 directly if a student may be in danger or "
        "to report the situation to the police, and follow your school board's own procedure",
        "fr": "l'intervenant qui signale n'a aucune certification SEXTO pour cette école : "
        "suivez la formation en ligne (niveau Explorateur ou Architecte) ou demandez à un "
        "collègue certifié de signaler; entre-temps, appelez directement le 911 si un élève "
        "peut être en danger ou pour signaler la situation à la police, et suivez la "
        "procédure de votre centre de services scolaire",
    },
    "intervener-certified-after-discovery": {
        "en": "the reporting intervener was certified on {certified_on}, after the discovery "
        "on {on}: ask a colleague certified by then (Explorer or Architect level) to report; "
        "meanwhile, call 911 directly if a student may be in danger or to report the "
        "situation to the police, and follow your school board's own procedure",
        "fr": "l'intervenant qui signale a été certifié le {certified_on}, après la "
        "découverte du {on} : demandez à un collègue déjà certifié à cette date (niveau "
        "Explorateur ou Architecte) de signaler; entre-temps, appelez directement le 911 si "
        "un élève peut être en danger ou pour signaler la situation à la police, et suivez "
        "la procédure de votre centre de services scolaire",
    },
    "protocol-not-for-jurisdiction": {
        "en": "school {school} works under jurisdiction {jurisdiction}, whose cases follow "
        "{allowed}, not {protocol}: report the case with protocol {allowed}",
        "fr": "l'école {school} relève de la juridiction {jurisdiction}, dont les dossiers "
        "suivent {allowed}, et non {protocol} : signalez le dossier avec le protocole "
        "{allowed}",
    },
    "directory-entry-not-found": {
        "en": "no such entry in the directory",
        "fr": "aucune entrée de ce type au répertoire",
    },
    "unknown-territory": {
        "en": "territory {territory} is not in the directory: register it first "
        "(POST /v1/admin/territories)",
        "fr": "le territoire {territory} n'est pas au répertoire : inscrivez-le d'abord "
        "(POST /v1/admin/territories)",
    },
    "agreement-ends-before-it-starts": {
        "en": "the agreement ends on {to}, before it comes into force on {start}: check the dates",
        "fr": "l'entente prend fin le {to}, avant son entrée en vigueur le {start} : "
        "vérifiez les dates",
    },
    "device-secured-in-future": {
        "en": "the device is said to be secured at {at}, a time still to come: give when it "
        "was actually secured",
        "fr": "l'appareil aurait été mis en sûreté le {at}, un moment encore à venir : "
        "indiquez quand il l'a réellement été",
    },
    "grid-does-not-fit": {
        "en": "the grid does not fit the case's protocol version: {problems}",
        "fr": "la grille ne correspond pas à la version du protocole du dossier : {problems}",
    },
    "protocol-version-unknown": {
        "en": "the case's protocol version is unknown to this service",
        "fr": "la version du protocole du dossier est inconnue de ce service",
    },
    "parent-needs-student": {
        "en": "student_ref: a parent is registered for one student of the case",
        "fr": "student_ref : un parent est inscrit pour un élève du dossier",
    },
    "only-parent-has-student": {
        "en": "student_ref: only a parent is registered for a student",
        "fr": "student_ref : seul un parent est inscrit pour un élève",
    },
    "field-refused": {
        "en": "{field}: {reason}",
        "fr": "{field} : valeur refusée ({reason})",
    },
    "url-invalid": {
        "en": "url: not a valid address ({cause})",
        "fr": "url : adresse invalide ({cause})",
    },
    "url-not-absolute": {
        "en": "url: give an absolute https:// address",
        "fr": "url : donnez une adresse https:// absolue",
    },
    "url-port-zero": {"en": "url: port 0 is not a port", "fr": "url : le port 0 n'est pas un port"},
    "url-credentials": {
        "en": "url: credentials in the address are refused; the secret signs",
        "fr": "url : les identifiants dans l'adresse sont refusés; le secret signe",
    },
    "url-https-only": {
        "en": "url: only https:// addresses are called",
        "fr": "url : seules les adresses https:// sont appelées",
    },
    "url-not-public": {
        "en": "url: {host} resolves to a non-public address; only public hosts are called",
        "fr": "url : {host} pointe vers une adresse non publique; seuls les hôtes publics "
        "sont appelés",
    },
    "url-unresolvable": {
        "en": "url: the host {host} does not resolve",
        "fr": "url : l'hôte {host} est introuvable dans le DNS",
    },
    "secret-form": {
        "en": "the secret must look like whsec_<base64 of 24 to 48 bytes>",
        "fr": "le secret doit avoir la forme whsec_<base64 de 24 à 48 octets>",
    },
    "secret-base64": {
        "en": "the secret after whsec_ is not valid base64",
        "fr": "le secret après whsec_ n'est pas du base64 valide",
    },
    "secret-length": {
        "en": "the secret must hold 24 to 48 bytes, not {size}",
        "fr": "le secret doit compter de 24 à 48 octets, et non {size}",
    },
    "filter-not-by-webhook": {
        "en": "{raw!r}: the {context} context's events are not sent by webhook",
        "fr": "{raw!r} : les événements du contexte {context} ne sont pas envoyés par webhook",
    },
    "filter-no-context": {
        "en": "{raw!r}: no such context; known: {known}",
        "fr": "{raw!r} : aucun contexte de ce nom; connus : {known}",
    },
    "filter-no-type": {
        "en": "{raw!r}: no such event type; use '<context>.<name>' or '<context>.*', see "
        "/asyncapi.json of the escalation service or the event catalogue",
        "fr": "{raw!r} : aucun type d'événement de ce nom; utilisez '<contexte>.<nom>' ou "
        "'<contexte>.*', voir /asyncapi.json du service d'escalade ou le catalogue des "
        "événements",
    },
    "filter-empty": {
        "en": "name at least one event type",
        "fr": "nommez au moins un type d'événement",
    },
    "address-refused": {
        "en": "{reason}",
        "fr": "adresse refusée : {reason}",
    },
    # unavailable (503)
    "log-unavailable": {
        "en": "the event log did not answer; retry",
        "fr": "le journal des événements n'a pas répondu; réessayez",
    },
    "tlog-unavailable": {
        "en": "the transparency log did not answer or is behind the event log; no bundle or "
        "proof is given without it; retry",
        "fr": "le journal de transparence n'a pas répondu ou est en retard sur le journal des "
        "événements; aucun dossier ni preuve sans lui; réessayez",
    },
    "tlog-behind": {
        "en": "the transparency log has not yet reached the case's latest events; retry in "
        "{seconds} s (Retry-After)",
        "fr": "le journal de transparence n'a pas encore atteint les derniers événements du "
        "dossier; réessayez dans {seconds} s (Retry-After)",
    },
    "tlog-not-witnessed": {
        "en": "no witness cosigned the transparency log's checkpoint (none configured, or none "
        "answered): no bundle or proof is given that a court's verifier would refuse; the "
        "operator must configure or restore a witness (SEXTO_TLOG_WITNESSES)",
        "fr": "aucun témoin n'a cosigné le point de contrôle du journal de transparence (aucun "
        "configuré, ou aucun n'a répondu) : aucun dossier ni preuve qu'un vérificateur "
        "refuserait; l'exploitant doit configurer ou rétablir un témoin (SEXTO_TLOG_WITNESSES)",
    },
    "proof-request-invalid": {
        "en": "{reason}",
        "fr": "preuve impossible : {reason}",
    },
    "database-unavailable": {
        "en": "the database did not answer; retry",
        "fr": "la base de données n'a pas répondu; réessayez",
    },
    # the HTTP edge itself
    "unauthorized-missing": {
        "en": "send a bearer token: Authorization: Bearer <token>",
        "fr": "envoyez un jeton porteur : Authorization: Bearer <jeton>",
    },
    "token-not-jwt": {
        "en": "the bearer token is not a JWT",
        "fr": "le jeton porteur n'est pas un JWT",
    },
    "token-algorithm": {
        "en": "token algorithm {alg!r} is not accepted",
        "fr": "l'algorithme de jeton {alg!r} n'est pas accepté",
    },
    "token-no-key": {
        "en": "no trusted key for this token: {cause}",
        "fr": "aucune clé de confiance pour ce jeton : {cause}",
    },
    "token-no-trusted-key": {
        "en": "no trusted key verifies this token",
        "fr": "aucune clé de confiance ne vérifie ce jeton",
    },
    "token-expired": {
        "en": "the token has expired: request a new one",
        "fr": "le jeton est expiré : demandez-en un nouveau",
    },
    "token-audience": {
        "en": "the token is not meant for this service (audience)",
        "fr": "le jeton n'est pas destiné à ce service (audience)",
    },
    "token-issuer": {
        "en": "the token comes from an issuer this service does not trust",
        "fr": "le jeton vient d'un émetteur auquel ce service ne fait pas confiance",
    },
    "token-signature": {
        "en": "the token's signature does not verify with a trusted key",
        "fr": "la signature du jeton ne se vérifie avec aucune clé de confiance",
    },
    "token-missing-claim": {
        "en": "the token lacks a required claim: {cause}",
        "fr": "il manque au jeton une revendication obligatoire : {cause}",
    },
    "token-invalid": {
        "en": "the token is invalid: {cause}",
        "fr": "le jeton est invalide : {cause}",
    },
    "token-claim-type": {
        "en": "the token's {claim} claim must be one identifier (letters, digits, '-' or '_'), "
        "not {found}",
        "fr": "la revendication {claim} du jeton doit être un identifiant (lettres, chiffres, "
        "'-' ou '_'), pas {found}",
    },
    "token-scope-missing": {
        "en": "the token of role {role} has no {claim} claim: a {role} acts within one "
        "{claim}; ask your identity provider for a token that names it",
        "fr": "le jeton du rôle {role} n'a pas de revendication {claim} : un {role} agit dans "
        "un seul {claim}; demandez à votre fournisseur d'identité un jeton qui le nomme",
    },
    "token-role": {
        "en": "the token's role claim is missing or unknown: it must be one of {roles}; ask "
        "your identity provider for a token that names your role",
        "fr": "la revendication de rôle (role) du jeton est absente ou inconnue : elle doit "
        "être l'une de {roles} ; demandez à votre fournisseur d'identité un jeton qui nomme "
        "votre rôle",
    },
    "unauthorized-invalid": {
        "en": "{reason}",
        "fr": "le jeton porteur est refusé ({reason}) : obtenez-en un nouveau",
    },
    "internal-error": {
        "en": "the request failed on our side; nothing was recorded unless a later "
        "read shows it; retry, and report the problem if it persists",
        "fr": "la requête a échoué de notre côté; rien n'a été consigné à moins "
        "qu'une lecture ultérieure ne le montre; réessayez, et signalez le problème s'il "
        "persiste",
    },
    "route-not-found": {
        "en": "{detail}",
        "fr": "aucune ressource à cette adresse : vérifiez le chemin ({detail})",
    },
    "method-not-allowed": {
        "en": "{detail}",
        "fr": "méthode non permise sur cette adresse : consultez /docs ({detail})",
    },
    "images-refused": {
        "en": "images, videos and any binary or encoded content must never be sent: describe "
        "the content in words (nature of the content) and send JSON text only",
        "fr": "les images, vidéos et tout contenu binaire ou encodé ne doivent jamais être "
        "envoyés : décrivez le contenu en mots (nature du contenu) et n'envoyez que du "
        "texte JSON",
    },
    "images-refused-at": {
        "en": "{where} holds {reason}: images, videos and any binary or encoded content must "
        "never be sent: describe the content in words (nature of the content) and send "
        "JSON text only",
        "fr": "{where} contient {reason} : les images, vidéos "
        "et tout contenu binaire ou encodé ne doivent jamais être envoyés : décrivez le "
        "contenu en mots (nature du contenu) et n'envoyez que du texte JSON",
    },
    "holds-data-uri": {"en": "a data: URI", "fr": "une URI data:"},
    "holds-control-characters": {
        "en": "binary (control) characters",
        "fr": "des caractères binaires (de contrôle)",
    },
    "holds-base64": {"en": "a base64-encoded blob", "fr": "un bloc encodé en base64"},
    "holds-encoded-image": {
        "en": "base64-encoded image data",
        "fr": "des données d'image encodées en base64",
    },
    "holds-base64-lines": {
        "en": "a base64-encoded blob split in lines",
        "fr": "un bloc encodé en base64 découpé en lignes",
    },
    "holds-base32-image": {
        "en": "base32-encoded image data",
        "fr": "des données d'image encodées en base32",
    },
    "holds-hex-image": {
        "en": "hex-encoded image data",
        "fr": "des données d'image encodées en hexadécimal",
    },
    "holds-hex-blob": {"en": "a hex-encoded blob", "fr": "un bloc encodé en hexadécimal"},
    "holds-bytes-as-text": {
        "en": "image bytes written as text",
        "fr": "les octets d'une image écrits comme du texte",
    },
    "holds-percent-binary": {
        "en": "percent-encoded binary data",
        "fr": "des données binaires encodées en pourcentage",
    },
    "holds-wrapped-image": {
        "en": "image data, {wrapping}",
        "fr": "des données d'image, {wrapping}",
    },
    "holds-wrapped": {"en": "{inner}, {wrapping}", "fr": "{inner} ({wrapping})"},
    "wrapping-base64": {"en": "base64-encoded", "fr": "encodées en base64"},
    "wrapping-percent": {"en": "percent-encoded", "fr": "encodées en pourcentage"},
    "wrapping-entities": {"en": "written as HTML entities", "fr": "écrites en entités HTML"},
    "wrapping-escapes": {
        "en": "written as backslash escapes",
        "fr": "écrites en séquences d'échappement",
    },
    "wrapping-quoted-printable": {
        "en": "quoted-printable encoded",
        "fr": "encodées en quoted-printable",
    },
    "wrapping-numbers": {"en": "written as numbers", "fr": "écrites en nombres"},
    "wrapping-base85": {"en": "base85-encoded", "fr": "encodées en base85"},
    "wrapping-uu": {"en": "uuencoded", "fr": "encodées en uuencode"},
    "json-only": {
        "en": "send the body as JSON with Content-Type: application/json",
        "fr": "envoyez le corps en JSON avec Content-Type: application/json",
    },
    "too-large": {
        "en": "the body is over {limit} bytes: send facts in words, briefly",
        "fr": "le corps dépasse {limit} octets : donnez les faits en mots, brièvement",
    },
    "malformed-json": {
        "en": "the body is not valid JSON (at character {position})",
        "fr": "le corps n'est pas du JSON valide (au caractère {position})",
    },
    "bad-cursor": {
        "en": "pass next_cursor as given",
        "fr": "renvoyez next_cursor tel que reçu",
    },
    "not-ready": {
        "en": "a dependency is not available: {checks}",
        "fr": "une dépendance n'est pas disponible : {checks}",
    },
    "no-case-access": {
        "en": "your role has no access to cases",
        "fr": "votre rôle n'a accès à aucun dossier",
    },
}


# The French of the validation errors FastAPI reports (pydantic error types); the English is
# pydantic's own message. An error type not listed here is answered in English.
VALIDATION_FR: Mapping[str, str] = {
    "missing": "champ obligatoire : ajoutez-le",
    "extra_forbidden": "champ inconnu : retirez-le",
    "string_type": "doit être une chaîne de caractères",
    "string_too_short": "doit compter au moins {min_length} caractère(s)",
    "string_too_long": "doit compter au plus {max_length} caractère(s)",
    "string_pattern_mismatch": "doit respecter le motif {pattern}",
    "too_short": "doit compter au moins {min_length} élément(s)",
    "too_long": "doit compter au plus {max_length} élément(s)",
    "literal_error": "doit être l'une de ces valeurs : {expected}",
    "enum": "doit être l'une de ces valeurs : {expected}",
    "int_type": "doit être un nombre entier",
    "int_parsing": "doit être un nombre entier",
    "float_parsing": "doit être un nombre",
    "bool_parsing": "doit être true ou false",
    "greater_than_equal": "doit être supérieur ou égal à {ge}",
    "greater_than": "doit être supérieur à {gt}",
    "less_than_equal": "doit être inférieur ou égal à {le}",
    "less_than": "doit être inférieur à {lt}",
    "date_parsing": "doit être une date AAAA-MM-JJ",
    "date_from_datetime_parsing": "doit être une date AAAA-MM-JJ",
    "datetime_parsing": "doit être une date et heure ISO 8601 avec son fuseau",
    "datetime_from_date_parsing": "doit être une date et heure ISO 8601 avec son fuseau",
    "timezone_aware": "doit indiquer son fuseau horaire (p. ex. -05:00)",
    "dict_type": "doit être un objet JSON",
    "model_type": "doit être un objet JSON",
    "model_attributes_type": "doit être un objet JSON",
    "list_type": "doit être une liste",
    "json_invalid": "JSON invalide",
    "value_error": "valeur refusée : {msg}",
    "assertion_error": "valeur refusée : {msg}",
}


def validation_text(error_type: str, english: str, ctx: Mapping[str, object], language: str) -> str:
    """What to fix in one field, in `language` (pydantic's English otherwise)."""
    template = VALIDATION_FR.get(error_type) if language == "fr" else None
    if template is None:
        return english
    try:
        return template.format(msg=english, **ctx)
    except (KeyError, IndexError):
        return english


class Message:
    """A text of the catalogue: its code and parameters; `str()` is the English text."""

    __slots__ = ("code", "params")

    def __init__(self, code: str, /, **params: object) -> None:
        if code not in TEXTS:
            raise KeyError(f"no text {code!r} in sexto_events.messages.TEXTS: add it there")
        self.code = code
        self.params = params

    def text(self, language: str = DEFAULT_LANGUAGE) -> str:
        """The text in `language` (English when the catalogue has no other)."""
        texts = TEXTS[self.code]
        params = {
            name: value.text(language) if isinstance(value, Message) else value
            for name, value in self.params.items()
        }
        return (texts.get(language) or texts[DEFAULT_LANGUAGE]).format(**params)

    def __str__(self) -> str:
        return self.text(DEFAULT_LANGUAGE)

    def __repr__(self) -> str:
        return f"Message({self.code!r}, **{self.params!r})"
