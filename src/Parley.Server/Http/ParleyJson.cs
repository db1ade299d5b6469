using System.Text.Json;
using System.Text.Json.Serialization;
using Parley.Server.Accounts;
using Parley.Server.Files;
using Parley.Server.Groups;
using Parley.Server.Messaging;
using Parley.Server.Social;

namespace Parley.Server.Http;

/// <summary>Source-generated serializers for every HTTP shape of the contract.</summary>
[JsonSourceGenerationOptions(
    JsonSerializerDefaults.Web,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    ReadCommentHandling = JsonCommentHandling.Disallow,
    AllowTrailingCommas = false,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
    // Web defaults read "3" as 3; the contract's numbers are numbers, and ids are strings, so neither is guessed.
    NumberHandling = JsonNumberHandling.Strict,
    // A member given twice is refused rather than "last wins", as on the WebSocket, so no two readers of one
    // body disagree; JsonElement members are checked by TextCheckedElementConverter.
    AllowDuplicateProperties = false,
    Converters = [typeof(NulFreeStringConverter), typeof(TextCheckedElementConverter)])]
[JsonSerializable(typeof(Problem))]
[JsonSerializable(typeof(RegisterRequest))]
[JsonSerializable(typeof(LoginRequest))]
[JsonSerializable(typeof(RefreshRequest))]
[JsonSerializable(typeof(PasswordChangeRequest))]
[JsonSerializable(typeof(ProfilePatch))]
[JsonSerializable(typeof(AuthResponse))]
[JsonSerializable(typeof(RefreshResponse))]
[JsonSerializable(typeof(SelfUser))]
[JsonSerializable(typeof(PublicUser))]
[JsonSerializable(typeof(ListResponse<PublicUser>))]
[JsonSerializable(typeof(FriendRequestBody))]
[JsonSerializable(typeof(RemarkBody))]
[JsonSerializable(typeof(FriendRequestDto))]
[JsonSerializable(typeof(FriendEntry))]
[JsonSerializable(typeof(FriendRemovedData))]
[JsonSerializable(typeof(ListResponse<FriendRequestDto>))]
[JsonSerializable(typeof(ListResponse<FriendEntry>))]
[JsonSerializable(typeof(ListResponse<BlockEntry>))]
[JsonSerializable(typeof(CreateGroupBody))]
[JsonSerializable(typeof(GroupPatch))]
[JsonSerializable(typeof(JoinBody))]
[JsonSerializable(typeof(UserIdsBody))]
[JsonSerializable(typeof(MemberPatch))]
[JsonSerializable(typeof(OwnerBody))]
[JsonSerializable(typeof(JoinResult))]
[JsonSerializable(typeof(CreateInviteCodeBody))]
[JsonSerializable(typeof(JoinByCodeBody))]
[JsonSerializable(typeof(InviteCodeDto))]
[JsonSerializable(typeof(GroupDto))]
[JsonSerializable(typeof(MemberEntry))]
[JsonSerializable(typeof(JoinRequestDto))]
[JsonSerializable(typeof(ListResponse<GroupDto>))]
[JsonSerializable(typeof(ListResponse<MemberEntry>))]
[JsonSerializable(typeof(ListResponse<JoinRequestDto>))]
[JsonSerializable(typeof(GroupInvitedData))]
[JsonSerializable(typeof(GroupMemberData))]
[JsonSerializable(typeof(GroupRemovedData))]
[JsonSerializable(typeof(GroupUpdatedData))]
[JsonSerializable(typeof(UserUpdatedData))]
[JsonSerializable(typeof(GroupRoleData))]
[JsonSerializable(typeof(GroupDissolvedData))]
[JsonSerializable(typeof(SendMessageBody))]
[JsonSerializable(typeof(DirectBody))]
[JsonSerializable(typeof(ReadBody))]
[JsonSerializable(typeof(MessageDto))]
[JsonSerializable(typeof(ConversationDto))]
[JsonSerializable(typeof(ListResponse<ConversationDto>))]
[JsonSerializable(typeof(MessagePage))]
[JsonSerializable(typeof(ListResponse<MessageDto>))]
[JsonSerializable(typeof(Receipts))]
[JsonSerializable(typeof(ConversationPatch))]
[JsonSerializable(typeof(IReadOnlyList<string>))]
[JsonSerializable(typeof(FileDto))]
[JsonSerializable(typeof(ListResponse<Parley.Server.Webhooks.FailedWebhookDto>))]
[JsonSerializable(typeof(Parley.Server.Webhooks.ReplayedDto))]
public sealed partial class ParleyJson : JsonSerializerContext;

/// <summary>The contract's list shape: always an object, never a bare array.</summary>
public sealed record ListResponse<T>(IReadOnlyList<T> Items, string? NextCursor);
