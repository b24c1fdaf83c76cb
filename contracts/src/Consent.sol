// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";
import {SignedActions} from "./SignedActions.sol";
import {Vocabulary} from "./Vocabulary.sol";

/// @title Consent
/// @notice Patient-controlled access. A patient, or the patient's healthcare proxy, grants a
///         grantee access to the patient's records: from some providers or any, to some FHIR
///         resource types or all, for reading and/or searching, for one purpose of use, between
///         a not-before time and an expiry. Revocation takes effect in the next block.
///         Also here: delegations (a proxy acts as the patient, including managing grants),
///         access requests (a grantee asks, the patient approves or declines) and research
///         studies (a researcher invites, the patient enrolls = a research-purpose grant, and
///         withdraws). Every patient action also exists as an EIP-712 signed message (`...BySig`)
///         that any relayer may submit, so a patient with no ether can do everything.
/// @dev Encodings: `actions` is a bit set (1 = read, 2 = search); an empty `providers` list means
///      any provider; an empty `resourceTypes` list means all types; time 0 means unbounded.
contract Consent is SignedActions {
    using EnumerableSet for EnumerableSet.AddressSet;

    /// @notice Purpose of use (codes 0-5).
    enum Purpose {
        Treatment,
        Payment,
        Operations,
        Research,
        PublicHealth,
        Any
    }

    /// @notice What a grant, request or study covers.
    struct Terms {
        address[] providers;
        string[] resourceTypes;
        uint8 actions;
        Purpose purpose;
        uint64 notBefore;
        uint64 expiresAt;
    }

    /// @notice A consent grant.
    struct Grant {
        address patient;
        address grantee;
        /// @dev The patient, or the proxy who acted for the patient.
        address issuer;
        bool revoked;
        uint64 createdAt;
        Terms terms;
    }

    /// @notice A healthcare proxy's mandate for one patient.
    struct Delegation {
        bool active;
        uint64 since;
        uint64 expiresAt;
    }

    enum RequestStatus {
        None,
        Pending,
        Approved,
        Declined,
        Cancelled
    }

    /// @notice A grantee's request for access.
    struct AccessRequest {
        address requester;
        address patient;
        RequestStatus status;
        uint256 grantId;
        Terms terms;
    }

    enum ParticipationStatus {
        None,
        Invited,
        Enrolled,
        Withdrawn
    }

    /// @notice A research study; enrolment grants the researcher `terms` (purpose Research).
    struct Study {
        address researcher;
        bool open;
        string title;
        Terms terms;
    }

    /// @notice A patient's standing in a study.
    struct Participation {
        ParticipationStatus status;
        uint256 grantId;
    }

    /// @notice The caller acts for `patient` but is neither the patient nor an active proxy.
    error NotPatientOrProxy(address actor, address patient);
    /// @notice Only the patient, an active proxy, or the grant's issuer may revoke it.
    error NotAuthorizedToRevoke(address actor, uint256 grantId);
    /// @notice The terms are malformed (actions, times, providers, purpose).
    error InvalidTerms();
    /// @notice Grantee or proxy is zero or the patient itself.
    error InvalidGrantee(address grantee);
    /// @notice No such grant.
    error UnknownGrant(uint256 grantId);
    /// @notice The grant is already revoked.
    error GrantAlreadyRevoked(uint256 grantId);
    /// @notice No active delegation of `patient` to `proxy`.
    error NoDelegation(address patient, address proxy);
    /// @notice No pending access request with this id.
    error RequestNotPending(uint256 requestId);
    /// @notice No access request with this id.
    error UnknownRequest(uint256 requestId);
    /// @notice No study with this id.
    error UnknownStudy(uint256 studyId);
    /// @notice Only the requester may cancel its request.
    error NotRequester(uint256 requestId);
    /// @notice No open study with this id.
    error StudyNotOpen(uint256 studyId);
    /// @notice Only the study's researcher may do this.
    error NotResearcher(uint256 studyId);
    /// @notice The patient is not in the state this step needs (invited / enrolled).
    error WrongParticipation(uint256 studyId, address patient, ParticipationStatus status);
    /// @notice A study title must be 1-128 bytes.
    error InvalidTitle();

    /// @notice A grant was created (directly, by approval of a request, or by study enrolment).
    event GrantCreated(
        uint256 indexed grantId,
        address indexed patient,
        address indexed grantee,
        address issuer,
        address[] providers,
        string[] resourceTypes,
        uint8 actions,
        Purpose purpose,
        uint64 notBefore,
        uint64 expiresAt
    );
    /// @notice A grant was revoked by `by`.
    event GrantRevoked(uint256 indexed grantId, address indexed patient, address indexed by);
    /// @notice `patient` made `proxy` its healthcare proxy until `expiresAt` (0 = no expiry).
    event DelegationSet(address indexed patient, address indexed proxy, uint64 expiresAt);
    /// @notice The delegation ended, by the patient or by the proxy stepping down.
    event DelegationRevoked(address indexed patient, address indexed proxy, address indexed by);
    /// @notice A grantee asked a patient for access.
    event AccessRequested(
        uint256 indexed requestId,
        address indexed patient,
        address indexed requester,
        address[] providers,
        string[] resourceTypes,
        uint8 actions,
        Purpose purpose,
        uint64 notBefore,
        uint64 expiresAt
    );
    /// @notice The patient (or proxy `by`) approved a request; `grantId` is the grant it created.
    event AccessApproved(uint256 indexed requestId, uint256 indexed grantId, address indexed by);
    /// @notice The patient (or proxy `by`) declined a request.
    event AccessDeclined(uint256 indexed requestId, address indexed by);
    /// @notice The requester withdrew its request.
    event AccessRequestCancelled(uint256 indexed requestId);
    /// @notice A researcher opened a study.
    event StudyOpened(
        uint256 indexed studyId,
        address indexed researcher,
        string title,
        address[] providers,
        string[] resourceTypes,
        uint8 actions,
        uint64 notBefore,
        uint64 expiresAt
    );
    /// @notice The researcher invited a patient.
    event StudyInvited(uint256 indexed studyId, address indexed patient);
    /// @notice A patient enrolled; `grantId` is its research-purpose grant.
    event StudyEnrolled(uint256 indexed studyId, address indexed patient, uint256 indexed grantId, address by);
    /// @notice A patient withdrew; its study grant `grantId` is revoked.
    event StudyWithdrawn(uint256 indexed studyId, address indexed patient, uint256 indexed grantId, address by);
    /// @notice The researcher closed the study to new invitations and enrolments.
    event StudyClosed(uint256 indexed studyId);

    bytes32 private constant TERMS_TYPE = keccak256(
        "Terms(address[] providers,string[] resourceTypes,uint8 actions,uint8 purpose,uint64 notBefore,uint64 expiresAt)"
    );
    /// @notice EIP-712 type hash of the signed `CreateGrant` message.
    /// @return The keccak256 of the `CreateGrant` type (with `Terms`).
    bytes32 public constant CREATE_GRANT_TYPEHASH = keccak256(
        "CreateGrant(address actor,address patient,address grantee,Terms terms,uint256 nonce,uint256 deadline)"
        "Terms(address[] providers,string[] resourceTypes,uint8 actions,uint8 purpose,uint64 notBefore,uint64 expiresAt)"
    );
    /// @notice EIP-712 type hash of the signed `RevokeGrant` message.
    /// @return The keccak256 of the `RevokeGrant` type.
    bytes32 public constant REVOKE_GRANT_TYPEHASH =
        keccak256("RevokeGrant(address actor,uint256 grantId,uint256 nonce,uint256 deadline)");
    /// @notice EIP-712 type hash of the signed `SetDelegation` message.
    /// @return The keccak256 of the `SetDelegation` type.
    bytes32 public constant SET_DELEGATION_TYPEHASH =
        keccak256("SetDelegation(address actor,address proxy,uint64 expiresAt,uint256 nonce,uint256 deadline)");
    /// @notice EIP-712 type hash of the signed `RevokeDelegation` message.
    /// @return The keccak256 of the `RevokeDelegation` type.
    bytes32 public constant REVOKE_DELEGATION_TYPEHASH =
        keccak256("RevokeDelegation(address actor,address patient,address proxy,uint256 nonce,uint256 deadline)");
    /// @notice EIP-712 type hash of the signed `AnswerRequest` message.
    /// @return The keccak256 of the `AnswerRequest` type.
    bytes32 public constant ANSWER_REQUEST_TYPEHASH =
        keccak256("AnswerRequest(address actor,uint256 requestId,bool approve,uint256 nonce,uint256 deadline)");
    /// @notice EIP-712 type hash of the signed `Enroll` message.
    /// @return The keccak256 of the `Enroll` type.
    bytes32 public constant ENROLL_TYPEHASH =
        keccak256("Enroll(address actor,uint256 studyId,address patient,uint256 nonce,uint256 deadline)");
    /// @notice EIP-712 type hash of the signed `Withdraw` message.
    /// @return The keccak256 of the `Withdraw` type.
    bytes32 public constant WITHDRAW_TYPEHASH =
        keccak256("Withdraw(address actor,uint256 studyId,address patient,uint256 nonce,uint256 deadline)");

    uint8 internal constant ALL_ACTIONS = 3;

    Grant[] private _grants;
    mapping(address patient => uint256[]) private _grantsByPatient;
    mapping(address grantee => uint256[]) private _grantsByGrantee;

    mapping(address patient => mapping(address proxy => Delegation)) private _delegations;
    mapping(address patient => EnumerableSet.AddressSet) private _proxiesOf;
    mapping(address proxy => EnumerableSet.AddressSet) private _principalsOf;
    /// @dev Accounts with at least one unrevoked delegation: lets a server enumerate every
    ///      delegation from the contract alone (proxies need not be in the directory).
    EnumerableSet.AddressSet private _delegates;

    AccessRequest[] private _requests;
    mapping(address patient => uint256[]) private _requestsByPatient;
    mapping(address requester => uint256[]) private _requestsByRequester;

    Study[] private _studies;
    mapping(uint256 studyId => mapping(address patient => Participation)) private _participation;
    mapping(uint256 studyId => address[]) private _studyPatients;
    mapping(address patient => uint256[]) private _studiesByPatient;

    constructor() SignedActions("MedRec Consent") {
        // Ids start at 1 so that 0 can mean "none".
        _grants.push();
        _requests.push();
        _studies.push();
    }

    // ------------------------------------------------------------------ grants

    /// @notice Grants `grantee` access to `patient`'s records; the caller is the patient or an
    ///         active proxy of the patient.
    /// @param patient The patient whose records are shared.
    /// @param grantee Who may access them.
    /// @param terms Providers, resource types, actions, purpose and validity window.
    /// @return grantId The new grant's id.
    function createGrant(address patient, address grantee, Terms calldata terms) external returns (uint256 grantId) {
        _checkActsFor(msg.sender, patient);
        grantId = _createGrant(patient, grantee, msg.sender, terms);
    }

    /// @notice `createGrant` from the actor's EIP-712 `CreateGrant` message.
    /// @param actor The patient or proxy who signed.
    /// @param patient The patient.
    /// @param grantee The grantee.
    /// @param terms The grant's terms.
    /// @param deadline Unix seconds after which the signature is void.
    /// @param signature The actor's signature.
    /// @return grantId The new grant's id.
    function createGrantBySig(
        address actor,
        address patient,
        address grantee,
        Terms calldata terms,
        uint256 deadline,
        bytes calldata signature
    ) external returns (uint256 grantId) {
        bytes32 structHash = keccak256(
            abi.encode(CREATE_GRANT_TYPEHASH, actor, patient, grantee, _hashTerms(terms), _useNonce(actor), deadline)
        );
        _checkSigned(actor, structHash, deadline, signature);
        _checkActsFor(actor, patient);
        grantId = _createGrant(patient, grantee, actor, terms);
    }

    /// @notice Revokes a grant; the caller is the patient, an active proxy, or the grant's issuer.
    /// @param grantId The grant.
    function revokeGrant(uint256 grantId) external {
        _revokeGrant(msg.sender, grantId);
    }

    /// @notice `revokeGrant` from the actor's EIP-712 `RevokeGrant` message.
    /// @param actor Who signed.
    /// @param grantId The grant.
    /// @param deadline Unix seconds after which the signature is void.
    /// @param signature The actor's signature.
    function revokeGrantBySig(address actor, uint256 grantId, uint256 deadline, bytes calldata signature) external {
        bytes32 structHash = keccak256(abi.encode(REVOKE_GRANT_TYPEHASH, actor, grantId, _useNonce(actor), deadline));
        _checkSigned(actor, structHash, deadline, signature);
        _revokeGrant(actor, grantId);
    }

    // ------------------------------------------------------------- delegations

    /// @notice Makes `proxy` the caller's healthcare proxy (or changes its expiry). A proxy reads
    ///         the patient's records and manages grants, but cannot appoint other proxies.
    /// @param proxy The proxy's address.
    /// @param expiresAt Unix seconds when the mandate ends (0 = until revoked).
    function setDelegation(address proxy, uint64 expiresAt) external {
        _setDelegation(msg.sender, proxy, expiresAt);
    }

    /// @notice `setDelegation` from the patient's EIP-712 `SetDelegation` message.
    /// @param actor The patient who signed.
    /// @param proxy The proxy.
    /// @param expiresAt Mandate end (0 = until revoked).
    /// @param deadline Unix seconds after which the signature is void.
    /// @param signature The patient's signature.
    function setDelegationBySig(address actor, address proxy, uint64 expiresAt, uint256 deadline, bytes calldata signature)
        external
    {
        bytes32 structHash =
            keccak256(abi.encode(SET_DELEGATION_TYPEHASH, actor, proxy, expiresAt, _useNonce(actor), deadline));
        _checkSigned(actor, structHash, deadline, signature);
        _setDelegation(actor, proxy, expiresAt);
    }

    /// @notice Ends a delegation; the caller is the patient or the proxy (stepping down).
    /// @param patient The patient.
    /// @param proxy The proxy.
    function revokeDelegation(address patient, address proxy) external {
        _revokeDelegation(msg.sender, patient, proxy);
    }

    /// @notice `revokeDelegation` from the actor's EIP-712 `RevokeDelegation` message.
    /// @param actor The patient or the proxy who signed.
    /// @param patient The patient.
    /// @param proxy The proxy.
    /// @param deadline Unix seconds after which the signature is void.
    /// @param signature The actor's signature.
    function revokeDelegationBySig(
        address actor,
        address patient,
        address proxy,
        uint256 deadline,
        bytes calldata signature
    ) external {
        bytes32 structHash =
            keccak256(abi.encode(REVOKE_DELEGATION_TYPEHASH, actor, patient, proxy, _useNonce(actor), deadline));
        _checkSigned(actor, structHash, deadline, signature);
        _revokeDelegation(actor, patient, proxy);
    }

    // ---------------------------------------------------------- access requests

    /// @notice Asks `patient` for access on `terms`; the caller becomes the grantee if approved.
    /// @param patient The patient asked.
    /// @param terms The access asked for.
    /// @return requestId The new request's id.
    function requestAccess(address patient, Terms calldata terms) external returns (uint256 requestId) {
        if (patient == address(0) || patient == msg.sender) revert InvalidGrantee(msg.sender);
        _checkTerms(terms);
        requestId = _requests.length;
        AccessRequest storage r = _requests.push();
        r.requester = msg.sender;
        r.patient = patient;
        r.status = RequestStatus.Pending;
        _storeTerms(r.terms, terms);
        _requestsByPatient[patient].push(requestId);
        _requestsByRequester[msg.sender].push(requestId);
        emit AccessRequested(
            requestId,
            patient,
            msg.sender,
            terms.providers,
            terms.resourceTypes,
            terms.actions,
            terms.purpose,
            terms.notBefore,
            terms.expiresAt
        );
    }

    /// @notice Withdraws the caller's pending request.
    /// @param requestId The request.
    function cancelRequest(uint256 requestId) external {
        AccessRequest storage r = _pendingRequest(requestId);
        if (r.requester != msg.sender) revert NotRequester(requestId);
        r.status = RequestStatus.Cancelled;
        emit AccessRequestCancelled(requestId);
    }

    /// @notice Approves (creating the grant asked for) or declines a pending request; the caller
    ///         is the patient or an active proxy.
    /// @param requestId The request.
    /// @param approve True to approve, false to decline.
    /// @return grantId The grant created (0 when declined).
    function answerRequest(uint256 requestId, bool approve) external returns (uint256 grantId) {
        grantId = _answerRequest(msg.sender, requestId, approve);
    }

    /// @notice `answerRequest` from the actor's EIP-712 `AnswerRequest` message.
    /// @param actor The patient or proxy who signed.
    /// @param requestId The request.
    /// @param approve True to approve, false to decline.
    /// @param deadline Unix seconds after which the signature is void.
    /// @param signature The actor's signature.
    /// @return grantId The grant created (0 when declined).
    function answerRequestBySig(
        address actor,
        uint256 requestId,
        bool approve,
        uint256 deadline,
        bytes calldata signature
    ) external returns (uint256 grantId) {
        bytes32 structHash =
            keccak256(abi.encode(ANSWER_REQUEST_TYPEHASH, actor, requestId, approve, _useNonce(actor), deadline));
        _checkSigned(actor, structHash, deadline, signature);
        grantId = _answerRequest(actor, requestId, approve);
    }

    // ------------------------------------------------------------------ studies

    /// @notice Opens a research study run by the caller. `terms.purpose` must be Research.
    /// @param title Public title of the study (1-128 bytes, no patient data).
    /// @param terms What enrolled patients grant the researcher.
    /// @return studyId The new study's id.
    function openStudy(string calldata title, Terms calldata terms) external returns (uint256 studyId) {
        if (bytes(title).length == 0 || bytes(title).length > 128) revert InvalidTitle();
        _checkTerms(terms);
        if (terms.purpose != Purpose.Research) revert InvalidTerms();
        studyId = _studies.length;
        Study storage s = _studies.push();
        s.researcher = msg.sender;
        s.open = true;
        s.title = title;
        _storeTerms(s.terms, terms);
        emit StudyOpened(
            studyId,
            msg.sender,
            title,
            terms.providers,
            terms.resourceTypes,
            terms.actions,
            terms.notBefore,
            terms.expiresAt
        );
    }

    /// @notice Invites patients to an open study; only its researcher may. Already invited or
    ///         enrolled patients are skipped.
    /// @param studyId The study.
    /// @param patients The patients to invite.
    function invite(uint256 studyId, address[] calldata patients) external {
        _ownStudy(studyId);
        Vocabulary.checkListLength(patients.length);
        for (uint256 i = 0; i < patients.length; i++) {
            address p = patients[i];
            if (p == address(0) || p == msg.sender) revert InvalidGrantee(p);
            Participation storage part = _participation[studyId][p];
            if (part.status != ParticipationStatus.None) continue;
            part.status = ParticipationStatus.Invited;
            _studyPatients[studyId].push(p);
            _studiesByPatient[p].push(studyId);
            emit StudyInvited(studyId, p);
        }
    }

    /// @notice Closes a study to new invitations and enrolments (existing grants stay until the
    ///         patients withdraw or they expire).
    /// @param studyId The study.
    function closeStudy(uint256 studyId) external {
        _ownStudy(studyId).open = false;
        emit StudyClosed(studyId);
    }

    /// @notice Enrolls an invited (or previously withdrawn) patient: creates the study's
    ///         research-purpose grant. The caller is the patient or an active proxy.
    /// @param studyId The study.
    /// @param patient The patient.
    /// @return grantId The research grant.
    function enroll(uint256 studyId, address patient) external returns (uint256 grantId) {
        grantId = _enroll(msg.sender, studyId, patient);
    }

    /// @notice `enroll` from the actor's EIP-712 `Enroll` message.
    /// @param actor The patient or proxy who signed.
    /// @param studyId The study.
    /// @param patient The patient.
    /// @param deadline Unix seconds after which the signature is void.
    /// @param signature The actor's signature.
    /// @return grantId The research grant.
    function enrollBySig(address actor, uint256 studyId, address patient, uint256 deadline, bytes calldata signature)
        external
        returns (uint256 grantId)
    {
        bytes32 structHash = keccak256(abi.encode(ENROLL_TYPEHASH, actor, studyId, patient, _useNonce(actor), deadline));
        _checkSigned(actor, structHash, deadline, signature);
        grantId = _enroll(actor, studyId, patient);
    }

    /// @notice Withdraws an enrolled patient from a study, revoking its research grant. The
    ///         caller is the patient or an active proxy. Works on closed studies too.
    /// @param studyId The study.
    /// @param patient The patient.
    function withdraw(uint256 studyId, address patient) external {
        _withdraw(msg.sender, studyId, patient);
    }

    /// @notice `withdraw` from the actor's EIP-712 `Withdraw` message.
    /// @param actor The patient or proxy who signed.
    /// @param studyId The study.
    /// @param patient The patient.
    /// @param deadline Unix seconds after which the signature is void.
    /// @param signature The actor's signature.
    function withdrawBySig(address actor, uint256 studyId, address patient, uint256 deadline, bytes calldata signature)
        external
    {
        bytes32 structHash =
            keccak256(abi.encode(WITHDRAW_TYPEHASH, actor, studyId, patient, _useNonce(actor), deadline));
        _checkSigned(actor, structHash, deadline, signature);
        _withdraw(actor, studyId, patient);
    }

    // -------------------------------------------------------------------- views

    /// @notice A grant by id (reverts for unknown ids).
    /// @param grantId The grant.
    /// @return The grant: patient, grantee, issuer, terms, revoked.
    function getGrant(uint256 grantId) external view returns (Grant memory) {
        if (grantId == 0 || grantId >= _grants.length) revert UnknownGrant(grantId);
        return _grants[grantId];
    }

    /// @notice Whether a grant is in force now (not revoked, within its validity window).
    /// @param grantId The grant (an unknown id is not active).
    /// @return True when the grant is in force at this block's time.
    function isGrantActive(uint256 grantId) external view returns (bool) {
        if (grantId == 0 || grantId >= _grants.length) return false;
        Grant storage g = _grants[grantId];
        return !g.revoked && block.timestamp >= g.terms.notBefore
            && (g.terms.expiresAt == 0 || block.timestamp < g.terms.expiresAt);
    }

    /// @notice How many grants exist (ids run from 1 to this number).
    /// @return The number of grants.
    function grantCount() external view returns (uint256) {
        return _grants.length - 1;
    }

    /// @notice Ids of every grant ever made for `patient` (revoked ones included).
    /// @param patient The patient.
    /// @return The grant ids, oldest first.
    function grantIdsByPatient(address patient) external view returns (uint256[] memory) {
        return _grantsByPatient[patient];
    }

    /// @notice Ids of every grant ever made to `grantee` (revoked ones included).
    /// @param grantee The grantee.
    /// @return The grant ids, oldest first.
    function grantIdsByGrantee(address grantee) external view returns (uint256[] memory) {
        return _grantsByGrantee[grantee];
    }

    /// @notice The delegation of `patient` to `proxy` as stored (check `expiresAt` yourself, or
    ///         use `isProxy`).
    /// @param patient The patient.
    /// @param proxy The proxy.
    /// @return The delegation (`active` false when there is none).
    function getDelegation(address patient, address proxy) external view returns (Delegation memory) {
        return _delegations[patient][proxy];
    }

    /// @notice Whether `proxy` may act for `patient` now.
    /// @param patient The patient.
    /// @param proxy The proxy.
    /// @return True when the delegation is active and unexpired.
    function isProxy(address patient, address proxy) public view returns (bool) {
        Delegation storage d = _delegations[patient][proxy];
        return d.active && (d.expiresAt == 0 || block.timestamp < d.expiresAt);
    }

    /// @notice Proxies with a (possibly expired) unrevoked delegation from `patient`.
    /// @param patient The patient.
    /// @return The proxies' addresses.
    function proxiesOf(address patient) external view returns (address[] memory) {
        return _proxiesOf[patient].values();
    }

    /// @notice Patients who delegated to `proxy` (possibly expired, unrevoked).
    /// @param proxy The proxy.
    /// @return The patients' addresses.
    function principalsOf(address proxy) external view returns (address[] memory) {
        return _principalsOf[proxy].values();
    }

    /// @notice How many accounts hold at least one unrevoked (possibly expired) delegation.
    /// @return The number of such accounts (the length `delegatesPage` pages through).
    function delegateCount() external view returns (uint256) {
        return _delegates.length();
    }

    /// @notice Up to `limit` of the accounts holding an unrevoked delegation, from position
    ///         `offset` (the order changes when a proxy's last delegation is revoked).
    /// @param offset First position (0-based); past the end gives an empty page.
    /// @param limit Most accounts returned.
    /// @return page The accounts at positions `offset` to `offset + limit - 1`, fewer at the end.
    function delegatesPage(uint256 offset, uint256 limit) external view returns (address[] memory page) {
        uint256 total = _delegates.length();
        uint256 end = offset >= total ? offset : (limit > total - offset ? total : offset + limit);
        page = new address[](end - offset);
        for (uint256 i = offset; i < end; i++) page[i - offset] = _delegates.at(i);
    }

    /// @notice An access request by id.
    /// @param requestId The request.
    /// @return The request: patient, requester, terms, status, grant id once approved.
    function getRequest(uint256 requestId) external view returns (AccessRequest memory) {
        if (requestId == 0 || requestId >= _requests.length) revert UnknownRequest(requestId);
        return _requests[requestId];
    }

    /// @notice How many access requests exist (ids run from 1 to this number).
    /// @return The number of access requests.
    function requestCount() external view returns (uint256) {
        return _requests.length - 1;
    }

    /// @notice Ids of the access requests made to `patient`.
    /// @param patient The patient.
    /// @return The request ids, oldest first.
    function requestIdsByPatient(address patient) external view returns (uint256[] memory) {
        return _requestsByPatient[patient];
    }

    /// @notice Ids of the access requests made by `requester`.
    /// @param requester The requester.
    /// @return The request ids, oldest first.
    function requestIdsByRequester(address requester) external view returns (uint256[] memory) {
        return _requestsByRequester[requester];
    }

    /// @notice A study by id.
    /// @param studyId The study.
    /// @return The study: researcher, title, terms, open.
    function getStudy(uint256 studyId) external view returns (Study memory) {
        if (studyId == 0 || studyId >= _studies.length) revert UnknownStudy(studyId);
        return _studies[studyId];
    }

    /// @notice How many studies exist (ids run from 1 to this number).
    /// @return The number of studies.
    function studyCount() external view returns (uint256) {
        return _studies.length - 1;
    }

    /// @notice A patient's standing in a study.
    /// @param studyId The study.
    /// @param patient The patient.
    /// @return The participation: status (None when never invited) and the research grant's id.
    function getParticipation(uint256 studyId, address patient) external view returns (Participation memory) {
        return _participation[studyId][patient];
    }

    /// @notice Patients ever invited to a study.
    /// @param studyId The study.
    /// @return The invited patients, in invitation order.
    function studyPatients(uint256 studyId) external view returns (address[] memory) {
        return _studyPatients[studyId];
    }

    /// @notice Studies `patient` was ever invited to.
    /// @param patient The patient.
    /// @return The study ids, in invitation order.
    function studyIdsByPatient(address patient) external view returns (uint256[] memory) {
        return _studiesByPatient[patient];
    }

    // ---------------------------------------------------------------- internals

    function _checkActsFor(address actor, address patient) private view {
        if (actor != patient && !isProxy(patient, actor)) revert NotPatientOrProxy(actor, patient);
    }

    function _checkTerms(Terms calldata terms) private view {
        if (terms.actions == 0 || terms.actions > ALL_ACTIONS) revert InvalidTerms();
        if (terms.expiresAt != 0 && (terms.expiresAt <= terms.notBefore || terms.expiresAt <= block.timestamp)) {
            revert InvalidTerms();
        }
        Vocabulary.checkListLength(terms.providers.length);
        for (uint256 i = 0; i < terms.providers.length; i++) {
            if (terms.providers[i] == address(0)) revert InvalidTerms();
        }
        Vocabulary.checkResourceTypes(terms.resourceTypes);
    }

    function _storeTerms(Terms storage target, Terms calldata terms) private {
        target.providers = terms.providers;
        for (uint256 i = 0; i < terms.resourceTypes.length; i++) target.resourceTypes.push(terms.resourceTypes[i]);
        target.actions = terms.actions;
        target.purpose = terms.purpose;
        target.notBefore = terms.notBefore;
        target.expiresAt = terms.expiresAt;
    }

    function _hashTerms(Terms calldata terms) private pure returns (bytes32) {
        return keccak256(
            abi.encode(
                TERMS_TYPE,
                _hashAddresses(terms.providers),
                _hashStrings(terms.resourceTypes),
                terms.actions,
                terms.purpose,
                terms.notBefore,
                terms.expiresAt
            )
        );
    }

    function _createGrant(address patient, address grantee, address issuer, Terms calldata terms)
        private
        returns (uint256 grantId)
    {
        if (grantee == address(0) || grantee == patient) revert InvalidGrantee(grantee);
        _checkTerms(terms);
        grantId = _grants.length;
        Grant storage g = _grants.push();
        g.patient = patient;
        g.grantee = grantee;
        g.issuer = issuer;
        g.createdAt = uint64(block.timestamp);
        _storeTerms(g.terms, terms);
        _index(grantId, patient, grantee);
        _emitGrant(grantId, g);
    }

    /// @dev Grants built from stored terms (approved requests, study enrolments).
    function _createGrantFrom(address patient, address grantee, address issuer, Terms storage terms)
        private
        returns (uint256 grantId)
    {
        if (terms.expiresAt != 0 && terms.expiresAt <= block.timestamp) revert InvalidTerms();
        grantId = _grants.length;
        Grant storage g = _grants.push();
        g.patient = patient;
        g.grantee = grantee;
        g.issuer = issuer;
        g.createdAt = uint64(block.timestamp);
        g.terms = terms;
        _index(grantId, patient, grantee);
        _emitGrant(grantId, g);
    }

    function _index(uint256 grantId, address patient, address grantee) private {
        _grantsByPatient[patient].push(grantId);
        _grantsByGrantee[grantee].push(grantId);
    }

    function _emitGrant(uint256 grantId, Grant storage g) private {
        emit GrantCreated(
            grantId,
            g.patient,
            g.grantee,
            g.issuer,
            g.terms.providers,
            g.terms.resourceTypes,
            g.terms.actions,
            g.terms.purpose,
            g.terms.notBefore,
            g.terms.expiresAt
        );
    }

    function _revokeGrant(address actor, uint256 grantId) private {
        if (grantId == 0 || grantId >= _grants.length) revert UnknownGrant(grantId);
        Grant storage g = _grants[grantId];
        if (actor != g.patient && actor != g.issuer && !isProxy(g.patient, actor)) {
            revert NotAuthorizedToRevoke(actor, grantId);
        }
        if (g.revoked) revert GrantAlreadyRevoked(grantId);
        g.revoked = true;
        emit GrantRevoked(grantId, g.patient, actor);
    }

    function _setDelegation(address patient, address proxy, uint64 expiresAt) private {
        if (proxy == address(0) || proxy == patient) revert InvalidGrantee(proxy);
        if (expiresAt != 0 && expiresAt <= block.timestamp) revert InvalidTerms();
        Delegation storage d = _delegations[patient][proxy];
        if (!d.active) d.since = uint64(block.timestamp);
        d.active = true;
        d.expiresAt = expiresAt;
        _proxiesOf[patient].add(proxy);
        _principalsOf[proxy].add(patient);
        _delegates.add(proxy);
        emit DelegationSet(patient, proxy, expiresAt);
    }

    function _revokeDelegation(address actor, address patient, address proxy) private {
        if (actor != patient && actor != proxy) revert NotPatientOrProxy(actor, patient);
        Delegation storage d = _delegations[patient][proxy];
        if (!d.active) revert NoDelegation(patient, proxy);
        d.active = false;
        _proxiesOf[patient].remove(proxy);
        _principalsOf[proxy].remove(patient);
        if (_principalsOf[proxy].length() == 0) _delegates.remove(proxy);
        emit DelegationRevoked(patient, proxy, actor);
    }

    function _pendingRequest(uint256 requestId) private view returns (AccessRequest storage r) {
        if (requestId == 0 || requestId >= _requests.length) revert RequestNotPending(requestId);
        r = _requests[requestId];
        if (r.status != RequestStatus.Pending) revert RequestNotPending(requestId);
    }

    function _answerRequest(address actor, uint256 requestId, bool approve) private returns (uint256 grantId) {
        AccessRequest storage r = _pendingRequest(requestId);
        _checkActsFor(actor, r.patient);
        if (approve) {
            r.status = RequestStatus.Approved;
            grantId = _createGrantFrom(r.patient, r.requester, actor, r.terms);
            r.grantId = grantId;
            emit AccessApproved(requestId, grantId, actor);
        } else {
            r.status = RequestStatus.Declined;
            emit AccessDeclined(requestId, actor);
        }
    }

    function _ownStudy(uint256 studyId) private view returns (Study storage s) {
        if (studyId == 0 || studyId >= _studies.length || !_studies[studyId].open) revert StudyNotOpen(studyId);
        s = _studies[studyId];
        if (s.researcher != msg.sender) revert NotResearcher(studyId);
    }

    function _enroll(address actor, uint256 studyId, address patient) private returns (uint256 grantId) {
        if (studyId == 0 || studyId >= _studies.length || !_studies[studyId].open) revert StudyNotOpen(studyId);
        _checkActsFor(actor, patient);
        Participation storage part = _participation[studyId][patient];
        if (part.status != ParticipationStatus.Invited && part.status != ParticipationStatus.Withdrawn) {
            revert WrongParticipation(studyId, patient, part.status);
        }
        Study storage s = _studies[studyId];
        grantId = _createGrantFrom(patient, s.researcher, actor, s.terms);
        part.status = ParticipationStatus.Enrolled;
        part.grantId = grantId;
        emit StudyEnrolled(studyId, patient, grantId, actor);
    }

    function _withdraw(address actor, uint256 studyId, address patient) private {
        _checkActsFor(actor, patient);
        Participation storage part = _participation[studyId][patient];
        if (part.status != ParticipationStatus.Enrolled) revert WrongParticipation(studyId, patient, part.status);
        part.status = ParticipationStatus.Withdrawn;
        Grant storage g = _grants[part.grantId];
        if (!g.revoked) {
            g.revoked = true;
            emit GrantRevoked(part.grantId, patient, actor);
        }
        emit StudyWithdrawn(studyId, patient, part.grantId, actor);
    }
}
